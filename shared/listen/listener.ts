import type { Duplex } from 'node:stream'
import type { Log } from '../log.js'

/**
 * The one contract every kind of address relay-listen serves implements
 * (Unix socket, Windows named pipe, Cygwin socket file, Windows AF_UNIX
 * socket). relay-listen picks a kind from the address and never looks
 * inside it.
 *
 * - `listen` either listens, or finds the address already served by a live
 *   listener: that is a value, not an error, because for a shell profile
 *   that starts `relay-listen` in every shell it is the normal case. Every
 *   other reason not to listen is a thrown RelayError naming the path, the
 *   reason and the fix, with its exit code.
 * - `close` resolves only once the address is gone (file removed, pipe
 *   instances closed), so a caller that awaits it before exiting leaves
 *   nothing behind.
 * - `isLive` answers "would a client be served here now?" the way that
 *   kind's clients would find out; `--background` waits on it.
 */
export interface ListenerKind {
  /** What the address is, for messages: "Unix socket", "named pipe" … */
  readonly what: string
  listen(address: string, onConnection: (connection: Duplex) => void, options: ListenOptions): Promise<ListenOutcome>
  isLive(address: string): Promise<boolean>
}

export interface ListenOptions {
  log: Log
}

/** A listener that serves its address until closed. */
export interface Listening {
  readonly alreadyServed: false
  /** Stop accepting; resolves once the address is gone. Open connections are the caller's. */
  close(): Promise<void>
}

/** Someone else serves the address already; `by` says who, where the kind can tell. */
export interface AlreadyServed {
  readonly alreadyServed: true
  readonly by: string | undefined
}

export type ListenOutcome = Listening | AlreadyServed

/** The outcome for an address somebody already serves. */
export function alreadyServed(by?: string): AlreadyServed {
  return { alreadyServed: true, by }
}
