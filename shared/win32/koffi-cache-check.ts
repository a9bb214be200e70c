/**
 * The check of koffi's native-module cache on Windows, which can only run
 * once koffi is loaded: a relaykit single executable writes its koffi.node
 * to %LOCALAPPDATA%\relaykit\native\<sha256>\koffi.node and loads it from
 * there (build/sea-native-koffi.cts), and reading an ACL needs koffi.
 *
 * Whoever else may write (or delete, rename, re-ACL, take ownership of) the
 * base folder, relaykit, native, <sha256> or the file could put another
 * library in its place, which relaykit would then load as the user. Each
 * path must be owned by the user, SYSTEM or Administrators and grant write
 * rights to nobody else; otherwise the process is refused. The library
 * loaded for this check is already loaded by then: a swap that won the race
 * this once has run, and the check stops every later start, not that one.
 *
 * The folders and the file relaykit created are then given the protected
 * user-only DACL, so they stop depending on what the base lets inherit.
 * Cost per start: one GetNamedSecurityInfo per path; a DACL already right
 * is not written again. Synchronous, on the koffi module it is handed: it
 * runs before koffi() resolves for anyone (see security.ts's
 * cacheCheckSecurity).
 */
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'
import type { KoffiModule } from './koffi.js'
import { cacheCheckSecurity, isUserOnlyDacl, otherWriters, parseSddl, trusteeName } from './security.js'

/** Owners as SDDL writes them that anyone may trust: SYSTEM, Administrators. */
const TRUSTED_OWNERS = ['SY', 'BA', 'S-1-5-18', 'S-1-5-32-544']

/**
 * Refuses the cache when someone else could change it, then makes the parts
 * relaykit created user-only. `paths` is base, relaykit, native, <sha256>,
 * koffi.node, as the loader left them.
 *
 * @throws RelayError (exit code REFUSED) naming the path, who may write it and the fix.
 */
export function checkKoffiCache(ffi: KoffiModule, paths: readonly string[]): void {
  const win = cacheCheckSecurity(ffi)
  const sid = win.userSid()
  const sddls = paths.map((path) => {
    const sddl = win.ownerDaclSddl(path)
    refuseIfOpen(path, sddl, sid, paths[0] ?? path)
    return sddl
  })
  // Everything after the base is relaykit's own.
  for (const [i, path] of paths.entries()) {
    if (i > 0 && !isUserOnlyDacl(sddls[i] ?? '', sid)) win.restrictToUser(path, sid)
  }
}

function refuseIfOpen(path: string, sddl: string, sid: string, base: string): void {
  const owner = parseSddl(sddl).owner ?? ''
  const writers = otherWriters(sddl, sid)
  if (owner !== sid && !TRUSTED_OWNERS.includes(owner)) writers.unshift(`its owner ${owner ? trusteeName(owner) : '(none)'}`)
  if (writers.length === 0) return
  throw new RelayError(
    `refusing to use the native koffi module cache: ${path} may be changed by ${writers.join(', ')}, ` +
      `who could replace the library relaykit loads as you. Fix: lock it down with ` +
      `icacls "${path}" /inheritance:r /grant:r "%USERNAME%:(OI)(CI)F" SYSTEM:(OI)(CI)F Administrators:(OI)(CI)F ` +
      `or point LOCALAPPDATA at a folder only you can write (now ${base}). ` +
      `The library was loaded once for this check; this refusal stops every later start.`,
    ExitCode.REFUSED,
  )
}
