import fs from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../exit-codes.js'
import type { Log } from '../log.js'
import { RelayError, errorCode } from '../relay-error.js'

/**
 * The directory a listener's file goes in: created private (0700) with its
 * missing parents, or checked when it exists.
 *
 * One level at a time, not `mkdir -p` through Node: Node's recursive mkdir
 * loops forever where mkdir says ENOENT for a parent that does exist (any
 * path under /proc), and the synchronous one blocks the event loop while it
 * does, so nothing could even time it out.
 */
export function preparePrivateDirectory(dir: string, forFile: string, log: Log): void {
  const missing: string[] = []
  let at = path.resolve(dir)
  for (;;) {
    const st = statOrMissing(at, forFile)
    if (st) {
      if (!st.isDirectory()) {
        throw new RelayError(`cannot listen on ${forFile}: ${at} is not a directory`, ExitCode.ERROR)
      }
      if (missing.length === 0) warnIfShared(at, st, log)
      break
    }
    missing.unshift(at)
    const up = path.dirname(at)
    if (up === at) break
    at = up
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: 0o700 })
    } catch (err) {
      if (errorCode(err) === 'EEXIST' && fs.statSync(d).isDirectory()) continue // made by a listener starting beside us
      throw new RelayError(`cannot listen on ${forFile}: cannot create the directory ${d} (${describeCode(err)})`, ExitCode.ERROR)
    }
  }
}

/** stat, with "not there" as undefined; a parent that is a file counts as not there (the walk up finds it). */
function statOrMissing(p: string, forFile: string): fs.Stats | undefined {
  try {
    return fs.statSync(p)
  } catch (err) {
    const code = errorCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw new RelayError(`cannot listen on ${forFile}: cannot look at ${p} (${describeCode(err)})`, ExitCode.ERROR)
  }
}

function warnIfShared(dir: string, st: fs.Stats, log: Log): void {
  if (process.platform === 'win32') return // modes mean nothing there; the file itself gets a user-only DACL
  const sticky = (st.mode & 0o1000) !== 0
  if ((st.mode & 0o022) !== 0 && !sticky) {
    log.error(`warning: ${dir} is writable by other users, who could replace the socket; prefer a private directory such as ~/.ssh`)
  }
}

/**
 * Windows: warn when the folder's DACL lets other accounts in (the file in
 * it is private, but they could delete it, create one in its place first,
 * or see that it is there). Modes mean nothing there, so the folder's
 * descriptor is read. A folder whose descriptor cannot be read is left
 * without a word: the file's own DACL is what keeps the secret.
 */
export async function warnIfSharedFolder(dir: string, log: Log): Promise<void> {
  if (process.platform !== 'win32') return
  const { currentUserSid, fileSecuritySddl, otherGrantees } = await import('../win32/security.js')
  let others: string[]
  try {
    others = otherGrantees(await fileSecuritySddl(dir), await currentUserSid())
  } catch {
    return
  }
  if (others.length > 0) {
    log.error(`warning: ${dir} also lets ${others.join(', ')} in, who could replace the socket file; prefer a folder of your own such as %USERPROFILE%\\.ssh`)
  }
}

/** `EACCES (permission denied)`: the code users search for, and what it means. */
export function describeCode(err: unknown): string {
  const code = errorCode(err)
  const meaning: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a parent is not a directory',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    ENAMETOOLONG: 'name too long',
    EISDIR: 'is a directory',
  }
  if (!code) return err instanceof Error ? err.message : String(err)
  return meaning[code] ? `${code}: ${meaning[code]}` : code
}
