import path from 'node:path'
import { nodeErrorCode } from './errors.js'
import { FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT } from './file-attributes.js'
import { INVALID_HANDLE_VALUE, kernel32 } from './kernel32.js'

/**
 * Opening an existing file itself, never what a symbolic link or junction
 * at its path names: Windows' O_NOFOLLOW. Node's fs on Windows follows
 * links and has no flag against it, so `--logfile` opens here. With
 * FILE_FLAG_OPEN_REPARSE_POINT a link is opened as the link, and its
 * attributes (read from the handle, so they are those of what we write to)
 * carry FILE_ATTRIBUTE_REPARSE_POINT for the caller to refuse.
 */

const FILE_SHARE_READ = 0x1
const FILE_SHARE_WRITE = 0x2
const OPEN_EXISTING = 3
const FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
/** BY_HANDLE_FILE_INFORMATION: dwFileAttributes first, 52 bytes in all. */
const FILE_INFORMATION_SIZE = 52

/** FILE_APPEND_DATA: every write goes to the end, as O_APPEND. */
export const FILE_APPEND_DATA = 0x0004
export const READ_CONTROL = 0x00020000
export const WRITE_DAC = 0x00040000
export const SYNCHRONIZE = 0x00100000

/**
 * Open existing `file` with `access`, not following a reparse point
 * (others may read and append meanwhile). Fails with `code` ENOENT,
 * EACCES … Close the handle, or give it to node-fd.ts.
 */
export async function openNoFollow(file: string, access: number): Promise<number> {
  const k = await kernel32()
  const full = path.resolve(file)
  const handle = k.CreateFileW(full, access, FILE_SHARE_READ | FILE_SHARE_WRITE, null, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT, 0) as number
  if (handle === INVALID_HANDLE_VALUE) {
    const winError = k.GetLastError() as number
    throw Object.assign(new Error(`CreateFileW(${full}) failed (error ${winError})`), { code: nodeErrorCode(winError), winError })
  }
  return handle
}

/** The FILE_ATTRIBUTE_* bits of the file behind `handle`. */
export async function handleAttributes(handle: number): Promise<number> {
  const k = await kernel32()
  const info = Buffer.alloc(FILE_INFORMATION_SIZE)
  if (!k.GetFileInformationByHandle(handle, info)) throw new Error(`GetFileInformationByHandle failed (error ${k.GetLastError() as number})`)
  return info.readUInt32LE(0)
}

/** Close a handle {@link openNoFollow} gave. */
export async function closeHandle(handle: number): Promise<void> {
  ;(await kernel32()).CloseHandle(handle)
}

/**
 * Why a file with these FILE_ATTRIBUTE_* bits (of the path itself, as
 * {@link handleAttributes} reads them) is not one to write to, or undefined:
 * a reparse point (symbolic link, junction, mount point) names another
 * file, and a folder is no file.
 */
export function notAPlainFile(attributes: number): string | undefined {
  if (attributes & FILE_ATTRIBUTE_REPARSE_POINT) return 'it is a symbolic link or junction (a reparse point): give the real path'
  if (attributes & FILE_ATTRIBUTE_DIRECTORY) return 'it is a folder: give the path of a file'
  return undefined
}
