/**
 * The one door to koffi. Everything Win32 goes through the modules in this
 * folder, and they load koffi through here, lazily, so relays that never
 * touch Win32 (and every relay on Linux) do not pay for loading it.
 *
 * In a relaykit single executable on Windows, koffi's own native module was
 * just loaded from the per-user cache (build/sea-native-koffi.cts), whose
 * ACLs could not be read without it. So the first koffi() checks that cache
 * before handing koffi to anyone: if others could change it, the process
 * stops there with exit code 4 (REFUSED) and no Win32 work has been done. A
 * library swapped in that race has been loaded once already; the refusal
 * stops every later start, it cannot undo that one. The check itself
 * (koffi-cache-check.ts) needs the Win32 modules, which need this one, so
 * it is handed in by the process's entry ({@link checkKoffiCacheWith}) as a
 * loader: a relay that never loads koffi (every relay on Linux) does not
 * evaluate the check and its Win32 bindings either. Without one, a cache
 * is refused rather than used unchecked.
 */
import type * as Koffi from 'koffi'
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'

export type KoffiModule = typeof Koffi

/** Set by the SEA loader on Windows: base, relaykit, native, <sha256>, koffi.node. */
const KOFFI_CACHE_PATHS = Symbol.for('relaykit.koffiCachePaths')

/** Checks the cache paths with the koffi module just loaded; throws (a RelayError to refuse) when they may not be used. */
export type KoffiCacheCheck = (ffi: KoffiModule, paths: readonly string[]) => void

let loadCacheCheck: (() => Promise<KoffiCacheCheck>) | undefined
let loaded: Promise<KoffiModule> | undefined

/** Sets how the first koffi() loads the check it runs on the native-module cache (before that call). */
export function checkKoffiCacheWith(load: () => Promise<KoffiCacheCheck>): void {
  loadCacheCheck = load
}

/** koffi, loaded on first use (and its cache checked, in a single executable on Windows). */
export function koffi(): Promise<KoffiModule> {
  loaded ??= import('koffi').then(async (m) => {
    const ffi = m.default as KoffiModule
    const paths = (globalThis as Record<symbol, unknown>)[KOFFI_CACHE_PATHS]
    // Before this promise resolves: no caller has koffi to do Win32 work with first.
    if (Array.isArray(paths)) await checkOrExit(ffi, paths as string[])
    return ffi
  })
  return loaded
}

/**
 * Exits the process on a refusal rather than rejecting: callers such as
 * doctor's rows catch errors and carry on, and nothing may go on using a
 * library that someone else could have put there.
 */
async function checkOrExit(ffi: KoffiModule, paths: string[]): Promise<void> {
  try {
    if (!loadCacheCheck) throw new Error('no check was set for the native koffi module cache')
    ;(await loadCacheCheck())(ffi, paths)
  } catch (err) {
    const refused = err instanceof RelayError ? err : undefined
    process.stderr.write(`relaykit: ${refused ? refused.message : `cannot check the native koffi module cache: ${String(err)}`}\n`)
    process.exit(refused?.exitCode ?? ExitCode.ERROR)
  }
}

/** Whether anything has loaded koffi in this process. */
export function koffiLoaded(): boolean {
  return loaded !== undefined
}
