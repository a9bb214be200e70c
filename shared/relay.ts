import type { Readable, Writable } from 'node:stream'

/**
 * What a relay talks to. A standalone relay gets the process's stdio; a
 * relay run in-process by a listener gets the accepted connection.
 */
export interface RelayIo {
  stdin: Readable
  stdout: Writable
  /** Diagnostics only. */
  stderr: Writable
  env: NodeJS.ProcessEnv
}

/** A relay's entry point: arguments (after the relay name) in, exit code out. */
export type RelayMain = (argv: readonly string[], io: RelayIo) => Promise<number>

/** One relay as the `relaykit` dispatcher lists it. */
export interface RelayDefinition {
  /** Command name, also the file name the executable answers to. */
  readonly name: string
  /** One line for `relaykit --help`. */
  readonly summary: string
  readonly main: RelayMain
  /**
   * false for commands that are not relays (`doctor`): `relaykit link` gives
   * the executable only relay names, so it never puts a file called
   * `doctor` on anyone's PATH.
   */
  readonly linked?: boolean
}

/**
 * Looks a relay up by name (`relaykit RELAY`, a link named after one).
 * Handed to the commands that run other relays (relay-listen, mux) rather
 * than imported, so no relay imports the registry that imports it.
 */
export type FindRelay = (name: string) => RelayDefinition | undefined
