import { ExitCode, exitCodeTable } from './exit-codes.js'
import { FlagError, type FlagSpec, formatFlags, parseGoFlags } from './go-flags.js'
import type { RelayIo } from './relay.js'
import { VERSION } from './version.js'

/** What a relay's command line looks like. */
export interface CliSpec {
  readonly name: string
  /** After the name: `[flags] PATH`. */
  readonly synopsis: string
  /** A few lines on what the relay is for. */
  readonly description: string
  readonly flags: readonly FlagSpec[]
  /** How many positional arguments are required (`{ min }`: at least that many). */
  readonly positionals: number | { readonly min: number }
  /** Exit code for a wrong number of arguments (npiperelay: 1, as in Go). */
  readonly wrongArgsCode?: ExitCode
}

/** Flags every relay has. */
export const commonFlags: readonly FlagSpec[] = [
  { name: 'v', type: 'boolean', help: 'verbose diagnostics on stderr (message types and lengths, never payload)', aliases: ['verbose'] },
  { name: 'version', type: 'boolean', help: 'print the version and exit' },
]

/**
 * Usage text: on stdout when asked for (`-h`, as `--version`), on stderr
 * after a usage error (then a relay's stdout may be a data channel).
 */
export function usage(spec: CliSpec): string {
  return [
    `Usage: ${spec.name} ${spec.synopsis}`,
    '',
    spec.description,
    '',
    'Flags (-flag and --flag are the same):',
    formatFlags([...spec.flags, ...commonFlags]),
    '',
    'Exit codes:',
    exitCodeTable(),
    '',
  ].join('\n')
}

/** A positive number of seconds, or a FlagError naming the flag. */
export function parseSeconds(value: string | boolean, flag: string): number {
  const seconds = Number(value)
  if (typeof value !== 'string' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new FlagError(`-${flag}: "${String(value)}" is not a number of seconds greater than 0`)
  }
  return seconds
}

/** A whole number of at least 1, or a FlagError naming the flag. */
export function parseCount(value: string | boolean, flag: string): number {
  if (typeof value !== 'string' || !/^\s*[0-9]+\s*$/.test(value) || Number(value) < 1) {
    throw new FlagError(`-${flag}: "${String(value)}" is not a whole number of at least 1`)
  }
  return Number(value)
}

/** One of `choices`, or a FlagError naming them. */
export function parseChoice<T extends string>(value: string | boolean, flag: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === value)
  if (found === undefined) throw new FlagError(`-${flag}: "${String(value)}" is not one of ${choices.join(', ')}`)
  return found
}

/** Report a flag value that parsed but makes no sense (`-deny nosuch`); returns the usage exit code. */
export function flagValueError(spec: CliSpec, io: RelayIo, err: unknown): ExitCode {
  if (!(err instanceof FlagError)) throw err
  io.stderr.write(`${spec.name}: ${err.message} (see ${spec.name} -h)\n`)
  return ExitCode.USAGE
}

/** Parsed command line, or the exit code to return at once. */
export type CliResult =
  | { readonly ok: true; readonly flags: Readonly<Record<string, boolean | string | undefined>>; readonly args: readonly string[] }
  | { readonly ok: false; readonly code: ExitCode }

/** Parse `argv` for `spec`, handling `-h`, `--version` and usage errors. */
export function parseCli(spec: CliSpec, argv: readonly string[], io: RelayIo): CliResult {
  let parsed
  try {
    parsed = parseGoFlags(argv, [...spec.flags, ...commonFlags])
  } catch (err) {
    if (!(err instanceof FlagError)) throw err
    io.stderr.write(`${spec.name}: ${err.message}\n${usage(spec)}`)
    return { ok: false, code: ExitCode.USAGE }
  }
  // Asked-for output goes to stdout, as with Go's tools and `node --version`;
  // the standalone runner flushes it before the process exits.
  if (parsed.help) {
    io.stdout.write(usage(spec))
    return { ok: false, code: ExitCode.OK }
  }
  if (parsed.flags.version) {
    io.stdout.write(`${spec.name} (relaykit) ${VERSION}\n`)
    return { ok: false, code: ExitCode.OK }
  }
  const count = parsed.positionals.length
  const wanted = spec.positionals
  if (typeof wanted === 'number' ? count !== wanted : count < wanted.min) {
    const expected = typeof wanted === 'number' ? `${wanted}` : `at least ${wanted.min}`
    io.stderr.write(`${spec.name}: expected ${expected} argument(s), got ${count}\n${usage(spec)}`)
    return { ok: false, code: spec.wrongArgsCode ?? ExitCode.USAGE }
  }
  return { ok: true, flags: parsed.flags, args: parsed.positionals }
}
