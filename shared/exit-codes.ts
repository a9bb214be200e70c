/**
 * The one table of exit codes every relay uses. `--help` prints it, so the
 * sentences here are written for the person reading a failed command.
 *
 * Codes 0, 1 and 2 mean what they mean for npiperelay.exe (a Go program:
 * success, fatal error, flag-parsing error), so relaykit stays a drop-in.
 * The higher codes refine "1" for relays that are not drop-ins.
 */
export const ExitCode = {
  /** The session ended normally. */
  OK: 0,
  /** Any other failure; npiperelay's single error code. */
  ERROR: 1,
  /** Bad flags or arguments. */
  USAGE: 2,
  /** The channel does not exist or nothing listens on it. */
  UNAVAILABLE: 3,
  /** The channel exists but refused us (permissions, handshake, owner). */
  REFUSED: 4,
  /** The peer broke the protocol: a malformed or oversized message. */
  PROTOCOL: 5,
  /** The other side stopped answering within the time allowed. */
  TIMEOUT: 6,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** Human sentence for each code, in code order. */
export const exitCodeMeaning: Readonly<Record<ExitCode, string>> = {
  0: 'success: the session ended normally',
  1: 'error: the relay failed (the message on stderr says why)',
  2: 'usage: unknown flag, bad flag value or wrong number of arguments',
  3: 'unavailable: the socket, pipe or agent does not exist or nobody is listening',
  4: 'refused: the channel exists but refused the connection (permissions, owner, handshake)',
  5: 'protocol: a malformed or oversized agent message',
  6: 'timeout: the other side stopped answering in time',
}

/** The table as `--help` prints it. */
export function exitCodeTable(): string {
  return Object.entries(exitCodeMeaning)
    .map(([code, text]) => `  ${code}  ${text}`)
    .join('\n')
}
