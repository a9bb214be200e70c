import type { Writable } from 'node:stream'

/**
 * Diagnostics for one relay session, on stderr only (stdout carries data).
 * Errors always print; `debug` lines only with `-v`/`--verbose`. Callers
 * pass message types and lengths, never payload bytes or key material.
 */
export interface Log {
  readonly verbose: boolean
  /** Always printed. */
  error(message: string): void
  /** Printed only in verbose mode. */
  debug(message: string): void
}

/** A log that writes `<prefix>: <message>` lines to `stream`. */
export function createLog(stream: Writable, prefix: string, verbose: boolean): Log {
  const line = (message: string) => {
    // A closed stderr must never take the relay down with it.
    if (!stream.destroyed && stream.writable) stream.write(`${prefix}: ${message}\n`)
  }
  return {
    verbose,
    error: line,
    debug: verbose ? line : () => {},
  }
}
