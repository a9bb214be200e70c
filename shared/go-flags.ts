import minimist from 'minimist'

/**
 * Command-line flags parsed the way Go's `flag` package parses them, because
 * npiperelay.exe is a Go program and scripts depend on its quirks:
 * `-ei` and `--ei` are the same flag (single-dash long names, so no combined
 * short flags), `-ei=false` works, a non-boolean flag takes the next
 * argument whatever it looks like, flags stop at the first positional
 * argument or at `--`, and `-h`/`-help` asks for usage.
 *
 * This layer normalises Go syntax into `--name=value` and lets minimist
 * build the result.
 */

/** One flag a relay accepts. */
export interface FlagSpec {
  readonly name: string
  readonly type: 'boolean' | 'string'
  /** Shown by usage; for strings, `value` names the argument (`-logfile PATH`). */
  readonly help: string
  readonly value?: string
  /** Other spellings of the same flag. */
  readonly aliases?: readonly string[]
}

/** Parsed flags: booleans default to false, strings to undefined. */
export interface ParsedFlags {
  readonly flags: Readonly<Record<string, boolean | string | undefined>>
  readonly positionals: readonly string[]
  /** `-h`, `-help` or `--help` was given. */
  readonly help: boolean
}

/** A flag-parsing error; Go's flag package exits 2 on these. */
export class FlagError extends Error {
  override name = 'FlagError'
}

const TRUE_VALUES = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])
const FALSE_VALUES = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False'])

/** Parse `argv` (without the program name) against `specs`. */
export function parseGoFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = new Map<string, FlagSpec>()
  for (const spec of specs) {
    for (const n of [spec.name, ...(spec.aliases ?? [])]) byName.set(n, spec)
  }
  const normalised: string[] = []
  let help = false
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      i++
      break
    }
    if (arg.length < 2 || !arg.startsWith('-')) break // first positional (a lone "-" too)
    const body = arg.replace(/^--?/, '')
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new FlagError(`bad flag syntax: ${arg}`)
    }
    const eq = body.indexOf('=')
    const name = eq < 0 ? body : body.slice(0, eq)
    const spec = byName.get(name)
    if (!spec) {
      if (name === 'h' || name === 'help') {
        help = true
        continue
      }
      throw new FlagError(`flag provided but not defined: -${name}`)
    }
    if (spec.type === 'boolean') {
      const raw = eq < 0 ? 'true' : body.slice(eq + 1)
      if (!TRUE_VALUES.has(raw) && !FALSE_VALUES.has(raw)) {
        throw new FlagError(`invalid boolean value "${raw}" for -${name}: parse error`)
      }
      normalised.push(`--${spec.name}=${TRUE_VALUES.has(raw)}`)
    } else if (eq >= 0) {
      normalised.push(`--${spec.name}=${body.slice(eq + 1)}`)
    } else {
      const next = argv[i + 1]
      if (next === undefined) throw new FlagError(`flag needs an argument: -${name}`)
      normalised.push(`--${spec.name}=${next}`)
      i++
    }
  }
  const parsed = minimist(normalised, {
    boolean: specs.filter((s) => s.type === 'boolean').map((s) => s.name),
    string: specs.filter((s) => s.type === 'string').map((s) => s.name),
  })
  const flags: Record<string, boolean | string | undefined> = {}
  for (const spec of specs) {
    const v: unknown = parsed[spec.name]
    // minimist keeps every repeat of a string flag; Go keeps the last.
    const last = Array.isArray(v) ? v[v.length - 1] : v
    flags[spec.name] = spec.type === 'boolean' ? last === true : (last as string | undefined)
  }
  return { flags, positionals: argv.slice(i), help }
}

/** Go-style usage lines for `specs`: `  -name value` then the help, indented. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  return specs
    .map((s) => {
      const names = [s.name, ...(s.aliases ?? [])].map((n) => `-${n}`).join(', ')
      const value = s.type === 'string' ? ` ${s.value ?? 'value'}` : ''
      return `  ${names}${value}\n    \t${s.help}`
    })
    .join('\n')
}
