import fs from 'node:fs'
import type { Writable } from 'node:stream'
import { ExitCode } from './exit-codes.js'
import { RelayError, messageOf } from './relay-error.js'
import { syncWriter } from './stdio.js'

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

/**
 * `--logfile PATH`: diagnostics appended to PATH, synchronously (a line
 * written just before exit is never lost). A file that cannot be opened is
 * an I/O failure (exit 1), thrown as a RelayError naming the path.
 */
export function openLogFile(path: string): Writable {
  try {
    return syncWriter(fs.openSync(path, 'a', 0o600))
  } catch (err) {
    throw new RelayError(`cannot open the log file ${path}: ${messageOf(err)}`, ExitCode.ERROR)
  }
}
