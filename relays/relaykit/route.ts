/**
 * Which part of the standalone executable a command line needs.
 *
 * The executable carries each often-started relay as its own bundle (a
 * "part", built from `parts/<name>.ts`), so that starting `npiperelay.exe`
 * compiles and evaluates npiperelay's code only, not every relay's. What is
 * rarely started, or runs other relays in its own process (relay-listen,
 * mux), lives in the part `all`, which is the whole relaykit dispatcher: one
 * process never loads two parts, so the code every part holds a copy of
 * (koffi, the Win32 bindings, their per-process state) exists once.
 */

/** Relays that have a part of their own: `parts/<name>.ts`. */
export const SEPARATE_PARTS = ['uds-relay', 'npiperelay', 'pageant-relay', 'doctor'] as const

/** Relays that run from the part `all`: they start other relays in-process, or are rarely run (setup). */
export const RELAYS_IN_ALL = ['relay-listen', 'mux', 'setup'] as const

/** The part holding every relay, help, link and the usage errors. */
export const ALL_PART = 'all'

/**
 * Parts the executable keeps brotli-compressed, with their code caches:
 * those started once per session or by hand, never once per connection.
 * Unpacking costs them about 6 ms at start (loading zlib included);
 * uncompressed, their 1 MB counted in the memory of every relay under Wine,
 * which reads an executable's whole image at every start.
 */
export const COMPRESSED_PARTS: readonly string[] = [ALL_PART, 'doctor']

const VERSION_COMMANDS: readonly string[] = ['--version', '-version', 'version']

/** What the dispatcher does: print the version itself, or hand the command line to a part. */
export type Route =
  | { readonly kind: 'version' }
  | { readonly kind: 'part'; readonly part: string; readonly invoked: string; readonly args: readonly string[] }

/** A relay name as a file name may carry it: case-insensitive, `.exe`/`.js` ignored. */
export function relayKey(name: string): string {
  return name.toLowerCase().replace(/\.(exe|js|cjs|mjs)$/, '')
}

function separate(name: string): string | undefined {
  const key = relayKey(name)
  return (SEPARATE_PARTS as readonly string[]).includes(key) ? key : undefined
}

/**
 * Picks the part for `invoked` (the program's file name) and `args`. A link
 * named after a relay runs that relay with every argument; `relaykit RELAY`
 * runs RELAY with the rest; `relaykit --version` needs no part at all.
 */
export function route(invoked: string, args: readonly string[]): Route {
  const direct = separate(invoked)
  if (direct) return { kind: 'part', part: direct, invoked, args }
  const viaAll = { kind: 'part', part: ALL_PART, invoked, args } as const
  if ((RELAYS_IN_ALL as readonly string[]).includes(relayKey(invoked))) return viaAll
  const [command, ...rest] = args
  if (command === undefined) return viaAll
  if (VERSION_COMMANDS.includes(command)) return { kind: 'version' }
  const named = separate(command)
  return named ? { kind: 'part', part: named, invoked, args: rest } : viaAll
}
