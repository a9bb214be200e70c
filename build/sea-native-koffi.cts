/**
 * Loads koffi's native module inside a relaykit single executable (Node SEA).
 *
 * Why this exists: koffi 2.x loads its addon with
 * `require('./build/koffi/<triplet>/koffi.node')`. Inside a SEA, `require`
 * reaches only Node's builtins and there is no node_modules next to the
 * executable, so koffi would fail with "Cannot find the native Koffi module".
 * The build's esbuild plugin (koffi-sea-plugin.ts) replaces each of those
 * requires with a call to {@link loadKoffiNative}, and embeds the target's
 * `koffi.node` in the executable as a SEA asset, brotli-compressed. An
 * operating system loads a shared library only from a file, so the asset is
 * written once to a private per-user cache, keyed by its sha256, and loaded
 * from there:
 *
 *   Linux    $XDG_CACHE_HOME/relaykit/native/<sha256>/koffi.node  (default ~/.cache)
 *   Windows  %LOCALAPPDATA%\relaykit\native\<sha256>\koffi.node
 *
 * Quirks:
 * - The file found in the cache is hashed on every start (about 2 ms) before
 *   it is loaded: a truncated write or a stray edit is rewritten, never loaded.
 *   On Linux it is opened once (never through a symbolic link), hashed from
 *   that descriptor and loaded through /proc/self/fd, so what is loaded is
 *   exactly what was hashed, whatever happens to the path in between.
 * - Nobody else may be able to change the path: the base folder must belong
 *   to us or root and, if others may write to it, be sticky (like /tmp);
 *   relaykit/native/<sha256> must be real directories (not symbolic links)
 *   of ours, and are made 0700. On Windows reading an ACL needs koffi, which
 *   is what is being loaded, so here the folders and the file are only
 *   refused as links (junctions, symlinks); the paths are left in
 *   {@link KOFFI_CACHE_PATHS} and shared/win32/koffi.ts checks their ACLs
 *   the moment koffi is loaded, before any Win32 work, and refuses to go on
 *   (a library swapped in that race has been loaded once by then: the
 *   check stops every later start, it cannot undo that one).
 * - The file is never deleted after loading: Windows cannot delete a loaded
 *   DLL, and the next start reuses it anyway.
 * - koffi runs these requires inside `try {} catch {}` and then reports only
 *   "Cannot find the native Koffi module", so the real reason is printed to
 *   stderr before it is rethrown.
 * - Outside a SEA (node running dist/relaykit.cjs from a checkout) koffi is
 *   loaded from node_modules exactly as it would be without the plugin.
 *
 * This file is CommonJS (.cts) because it only ever runs inside the CommonJS
 * bundle, where `require` is the SEA's builtin-only require.
 */
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join } from 'node:path'
import { brotliDecompressSync } from 'node:zlib'

type SeaModule = typeof import('node:sea')

/** What the build knows about one platform's `koffi.node`. */
export interface EmbeddedKoffi {
  /** koffi's platform name, e.g. `win32_x64`. */
  readonly triplet: string
  /** SEA asset key of the file, when some target embeds it. */
  readonly assetKey: string | null
  /** Lower-case hex sha256 of the file, when some target embeds it. */
  readonly sha256: string | null
}

/** An addon this executable carries. */
type PresentKoffi = EmbeddedKoffi & { readonly assetKey: string; readonly sha256: string }

function seaModule(): SeaModule | undefined {
  try {
    // node:sea exists from Node 20.12 / 21.7; on older runtimes this throws,
    // and such a runtime cannot be running a SEA anyway.
    return require('node:sea') as SeaModule
  } catch {
    return undefined
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The per-user cache base: %LOCALAPPDATA% on Windows, XDG_CACHE_HOME elsewhere. */
function userCacheBase(): string {
  if (process.platform === 'win32') {
    const local = process.env.LOCALAPPDATA
    return local && isAbsolute(local) ? local : join(homedir(), 'AppData', 'Local')
  }
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = process.env.XDG_CACHE_HOME
  return xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache')
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code
}

/**
 * `mkdir -p` with mode 0700. Not `mkdirSync({ recursive: true })`: on a
 * filesystem that answers ENOENT for an existing parent (seen under /proc),
 * Node's recursive mkdir retries forever and the executable would hang at
 * start instead of failing.
 */
function mkdirPrivate(dir: string): void {
  const parent = dirname(dir)
  try {
    mkdirSync(dir, { mode: 0o700 })
    return
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return
    if (errorCode(err) !== 'ENOENT' || parent === dir) throw err
  }
  mkdirPrivate(parent)
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err
  }
}

/**
 * Refuses a directory someone else could write to, and tightens our own.
 * Whoever can write to any of relaykit/native/<sha256> could swap the library
 * between the hash check and the load (think XDG_CACHE_HOME=/tmp). A symbolic
 * link is refused, not followed: it could lead anywhere.
 */
function assertPrivate(dir: string): void {
  const st = lstatSync(dir)
  if (st.isSymbolicLink()) throw new Error(`${dir} is a symbolic link`)
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`)
  if (process.platform === 'win32') return // modes and uids mean nothing there
  if (st.uid !== process.getuid?.()) throw new Error(`${dir} belongs to another user`)
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700)
}

/**
 * The base folder may be a link (~/.cache often is), but what it leads to
 * must be ours or root's, and if others may write to it, sticky: otherwise
 * they could rename our relaykit folder away and put theirs in its place.
 */
function assertSafeBase(base: string): void {
  if (process.platform === 'win32') return
  const st = statSync(base)
  const uid = process.getuid?.()
  if (st.uid !== uid && st.uid !== 0) throw new Error(`${base} belongs to another user`)
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) throw new Error(`${base} is writable by other users and not sticky`)
}

/**
 * Creates `<base>/relaykit/native/<sha256>`, accessible to us only. On Windows
 * %LOCALAPPDATA% is already private by its ACL and modes mean nothing.
 */
function ensurePrivateDir(base: string, sha256: string): string {
  const dirs = [join(base, 'relaykit'), join(base, 'relaykit', 'native'), join(base, 'relaykit', 'native', sha256)]
  const leaf = dirs[dirs.length - 1] as string
  assertSafeBase(base)
  mkdirPrivate(leaf)
  dirs.forEach(assertPrivate)
  return leaf
}

function hasSha256(file: string, expected: string): boolean {
  try {
    return sha256Hex(readFileSync(file)) === expected
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false
    throw err
  }
}

function embeddedBytes(sea: SeaModule, koffi: PresentKoffi): Buffer {
  // Compressed by the build (sea-executable.ts); zlib is loaded only here,
  // when the cache is written, not at every start (lazy-builtins-plugin.ts).
  const bytes = brotliDecompressSync(sea.getAsset(koffi.assetKey))
  // Refuse to cache a file that would never pass the check on the next start.
  if (sha256Hex(bytes) !== koffi.sha256) {
    throw new Error(`embedded asset ${koffi.assetKey} does not match its build-time sha256`)
  }
  return bytes
}

/**
 * Writes the file under a temporary name and renames it over the target, so
 * no process ever loads a half-written library. No fsync: a file damaged by a
 * crash fails the hash check on the next start and is rewritten.
 */
function writeAtomically(file: string, bytes: Buffer, sha256: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(tmp, bytes, { mode: 0o700, flag: 'wx' })
  try {
    renameSync(tmp, file)
  } catch (err) {
    rmSync(tmp, { force: true })
    // A concurrent start may have put the same file in place first; on Windows
    // that file may already be loaded and therefore impossible to replace.
    if (!hasSha256(file, sha256)) throw err
  }
}

/**
 * Where the Windows cache paths are left for shared/win32/koffi.ts: base,
 * relaykit, native, <sha256>, koffi.node. A global symbol, not an import:
 * this file lives in the bundle only through the build's plugin.
 */
export const KOFFI_CACHE_PATHS = Symbol.for('relaykit.koffiCachePaths')

function loadEmbedded(sea: SeaModule, koffi: PresentKoffi): unknown {
  const base = userCacheBase()
  const exports = loadFromCache(base, koffi.sha256, () => embeddedBytes(sea, koffi), (file) => {
    const addon = { exports: {} }
    process.dlopen(addon, file)
    return addon.exports
  })
  if (process.platform === 'win32') {
    const dir = join(base, 'relaykit', 'native', koffi.sha256)
    ;(globalThis as Record<symbol, unknown>)[KOFFI_CACHE_PATHS] = [base, dirname(dirname(dir)), dirname(dir), dir, join(dir, 'koffi.node')]
  }
  return exports
}

/**
 * The cache itself, apart from the SEA (for tests): make sure
 * `<base>/relaykit/native/<sha256>/koffi.node` holds the bytes with that
 * hash (writing `bytes()` if not), then `load` exactly them.
 */
export function loadFromCache(base: string, sha256: string, bytes: () => Buffer, load: (file: string) => unknown): unknown {
  const file = join(ensurePrivateDir(base, sha256), 'koffi.node')
  if (!hasSha256(file, sha256)) writeAtomically(file, bytes(), sha256)
  if (process.platform !== 'linux') {
    if (lstatSync(file).isSymbolicLink()) throw new Error(`${file} is a symbolic link`)
    return load(file)
  }
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    if (sha256Hex(readAll(fd)) !== sha256) throw new Error(`${file} changed while it was being loaded`)
    return load(`/proc/self/fd/${fd}`)
  } finally {
    closeSync(fd)
  }
}

function readAll(fd: number): Buffer {
  const out = Buffer.alloc(fstatSync(fd).size)
  for (let at = 0; at < out.length; ) {
    const n = readSync(fd, out, at, out.length - at, at)
    if (n === 0) break
    at += n
  }
  return out
}

/**
 * Returns koffi's native addon: from the SEA asset when running as a single
 * executable, otherwise from `loadFromNodeModules` (koffi's original require).
 *
 * @throws the original error, after printing it to stderr, because koffi
 *   swallows it and reports only that the module was not found.
 */
export function loadKoffiNative(koffi: EmbeddedKoffi, loadFromNodeModules: () => unknown): unknown {
  const sea = seaModule()
  if (sea?.isSea() !== true) return loadFromNodeModules()
  const { assetKey, sha256 } = koffi
  // Not embedded: koffi's musl fallback after the glibc addon failed (already
  // reported), or a platform this executable was not built for. Stay quiet.
  if (assetKey === null || sha256 === null) throw new Error(`koffi for ${koffi.triplet} is not embedded`)
  try {
    return loadEmbedded(sea, { ...koffi, assetKey, sha256 })
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    process.stderr.write(`relaykit: cannot load the native koffi module (${koffi.triplet}): ${reason}\n`)
    throw err
  }
}
