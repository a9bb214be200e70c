import { closeSync, constants, fchmodSync, fstatSync, openSync, type Stats } from 'node:fs'
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
 *
 * The log says when and to which agent you connected, so on POSIX it is
 * opened without following a symbolic link (another user could point one
 * at a file of yours, or read the link's target), refused unless it is a
 * regular file owned by this user, and made 0600 if it already existed with
 * a wider mode (the mode given to open applies only to a new file). On
 * Windows, where the mode means nothing and a file Node creates takes its
 * folder's ACL, see {@link openLogOnWindows}.
 */
export async function openLogFile(path: string): Promise<Writable> {
  if (process.platform === 'win32') return syncWriter(await openLogOnWindows(path))
  let fd: number
  try {
    fd = openSync(path, LOG_OPEN_FLAGS, 0o600)
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link (give the real path)' : messageOf(err)
    throw new RelayError(`cannot open the log file ${path}: ${why}`, ExitCode.ERROR)
  }
  try {
    makePrivate(fd, path)
  } catch (err) {
    closeSync(fd)
    throw err
  }
  return syncWriter(fd)
}

const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW = 0 } = constants
const LOG_OPEN_FLAGS = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW

function makePrivate(fd: number, path: string): void {
  const st = checkRegularFile(fd, path)
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) {
    throw new RelayError(`the log file ${path} belongs to uid ${st.uid}, not to you (uid ${uid}): use a file of your own`, ExitCode.ERROR)
  }
  if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o600)
}

function checkRegularFile(fd: number, path: string): Stats {
  const st = fstatSync(fd)
  if (!st.isFile()) throw new RelayError(`the log file ${path} is not a regular file: give the path of a file`, ExitCode.ERROR)
  return st
}

/**
 * Windows: create a new log file with the user-only, protected DACL from
 * its first byte (createPrivateFile), so no other account can open it and
 * keep the handle. False when it already exists.
 */
async function createPrivateOnWindows(path: string): Promise<boolean> {
  const [{ createPrivateFile }, { FILE_ATTRIBUTE_NORMAL }] = await Promise.all([import('./win32/private-file.js'), import('./win32/file-attributes.js')])
  try {
    await createPrivateFile(path, FILE_ATTRIBUTE_NORMAL)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw new RelayError(`cannot open the log file ${path}: ${messageOf(err)}`, ExitCode.ERROR)
  }
}

/**
 * Windows: the log file, opened for appending without following a link
 * (Node's fs follows symbolic links and junctions on Windows, and has no
 * O_NOFOLLOW): a reparse point at the path is refused, as ELOOP is on POSIX.
 * One that already existed is refused unless its owner is this user, or
 * Administrators, which an elevated administrator's files belong to and no
 * other user can give a file without being one; then it gets the same
 * user-only, protected DACL as a new one, whatever it granted before. The
 * checks and the DACL go through the handle we then write to.
 */
async function openLogOnWindows(path: string): Promise<number> {
  const created = await createPrivateOnWindows(path)
  const [nf, security, { handleToFd }] = await Promise.all([import('./win32/no-follow-file.js'), import('./win32/security.js'), import('./win32/node-fd.js')])
  const access = nf.FILE_APPEND_DATA | nf.SYNCHRONIZE | nf.READ_CONTROL | nf.WRITE_DAC
  let handle: number
  try {
    handle = await nf.openNoFollow(path, access)
  } catch (err) {
    throw new RelayError(`cannot open the log file ${path}: ${messageOf(err)}`, ExitCode.ERROR)
  }
  try {
    const problem = nf.notAPlainFile(await nf.handleAttributes(handle))
    if (problem) throw new RelayError(`cannot open the log file ${path}: ${problem}`, ExitCode.ERROR)
    if (!created) {
      const [owner, me] = await Promise.all([security.handleOwnerSddl(handle), security.currentUserSid()])
      if (!trustedLogOwner(owner, me)) {
        throw new RelayError(`the log file ${path} belongs to ${owner || 'nobody'}, not to you (${me}): use a file of your own`, ExitCode.ERROR)
      }
      await security.restrictHandleToUser(handle, path)
    }
  } catch (err) {
    await nf.closeHandle(handle)
    throw err
  }
  return handleToFd(handle)
}

/** May a log file owned by `owner` (a SID or SDDL alias) be written by user `userSid`? */
export function trustedLogOwner(owner: string, userSid: string): boolean {
  return owner === userSid || owner === 'BA' || owner === 'S-1-5-32-544'
}
