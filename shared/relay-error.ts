import { ExitCode } from './exit-codes.js'

/**
 * A failure the user can act on: the message says what went wrong and, where
 * there is one, how to fix it; `exitCode` is the code from the one table.
 */
export class RelayError extends Error {
  override name = 'RelayError'
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.ERROR,
  ) {
    super(message)
  }
}

/** The `code` of a Node system error (`ENOENT` …), if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** Errors that mean "the peer closed the connection", not "something broke". */
export function isClosedByPeer(err: unknown): boolean {
  const code = errorCode(err)
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'ENOTCONN' || code === 'EOF'
}

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
