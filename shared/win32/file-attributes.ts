import path from 'node:path'
import { kernel32, lastError } from './kernel32.js'

/**
 * kernel32 file attributes (GetFileAttributesW/SetFileAttributesW), which
 * Node's fs does not expose. Two channels need them:
 * - Cygwin and MSYS2 recognise an emulated Unix socket by the SYSTEM
 *   attribute as well as by the `!<socket >` text inside: a file without it
 *   is not a socket to them (connect fails with EBADF), so a server for
 *   Cygwin clients must set it. libassuan (gpg-agent's `S.gpg-agent.ssh`)
 *   does not set it, which is how the Cygwin socket client tells the two
 *   apart. No READONLY: Cygwin adds it to some socket files, but it would
 *   make our own unlink at close fail.
 * - A Windows AF_UNIX socket file is a reparse point that libuv's stat
 *   cannot open; its attributes say what it is (af-unix-host.ts).
 *
 * Paths are made absolute here, against Node's cwd, which is also the
 * process's Win32 current directory.
 */

export const FILE_ATTRIBUTE_SYSTEM = 0x0004
export const FILE_ATTRIBUTE_DIRECTORY = 0x0010
/** Only valid on its own; GetFileAttributes returns it for a file with no other attribute. */
export const FILE_ATTRIBUTE_NORMAL = 0x0080
export const FILE_ATTRIBUTE_REPARSE_POINT = 0x0400

const INVALID_FILE_ATTRIBUTES = 0xffffffff

/** The attribute bits of `file` (FILE_ATTRIBUTE_*). Windows only. */
export async function getFileAttributes(file: string): Promise<number> {
  const k = await kernel32()
  const full = path.resolve(file)
  const attributes = k.GetFileAttributesW(full) as number
  if (attributes === INVALID_FILE_ATTRIBUTES) throw lastError(k, `GetFileAttributes(${full})`)
  return attributes
}

/** Replace the attribute bits of `file`. Windows only. */
export async function setFileAttributes(file: string, attributes: number): Promise<void> {
  const k = await kernel32()
  const full = path.resolve(file)
  if (!k.SetFileAttributesW(full, attributes)) throw lastError(k, `SetFileAttributes(${full}, 0x${attributes.toString(16)})`)
}

/** Add `attributes` to those `file` already has. Windows only. */
export async function addFileAttributes(file: string, attributes: number): Promise<void> {
  const current = await getFileAttributes(file)
  await setFileAttributes(file, ((current & ~FILE_ATTRIBUTE_NORMAL) | attributes) >>> 0)
}
