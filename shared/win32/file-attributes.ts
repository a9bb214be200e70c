import path from 'node:path'
import { koffi } from './koffi.js'

/**
 * kernel32 file attributes (GetFileAttributesW/SetFileAttributesW), which
 * Node's fs does not expose.
 *
 * Cygwin and MSYS2 recognise an emulated Unix socket by the SYSTEM attribute
 * as well as by the `!<socket >` text inside: a file without it is not a
 * socket to them (connect fails with EBADF), so a server for Cygwin clients
 * must set it. libassuan (gpg-agent's `S.gpg-agent.ssh`) does not set it,
 * which is how the Cygwin socket client tells the two apart.
 *
 * Paths are made absolute here, against Node's cwd, which is also the
 * process's Win32 current directory. No READONLY: Cygwin adds it to some
 * socket files, but it would make our own unlink at close fail.
 */

export const FILE_ATTRIBUTE_READONLY = 0x0001
export const FILE_ATTRIBUTE_HIDDEN = 0x0002
export const FILE_ATTRIBUTE_SYSTEM = 0x0004
/** Only valid on its own; GetFileAttributes returns it for a file with no other attribute. */
export const FILE_ATTRIBUTE_NORMAL = 0x0080

const INVALID_FILE_ATTRIBUTES = 0xffffffff

let api: ReturnType<typeof bind> | undefined

async function bind() {
  const ffi = await koffi()
  const kernel32 = ffi.load('kernel32.dll')
  return {
    GetFileAttributesW: kernel32.func('uint32_t __stdcall GetFileAttributesW(const char16_t *lpFileName)'),
    SetFileAttributesW: kernel32.func(
      'int __stdcall SetFileAttributesW(const char16_t *lpFileName, uint32_t dwFileAttributes)',
    ),
    GetLastError: kernel32.func('uint32_t __stdcall GetLastError()'),
  }
}

/** The attribute bits of `file` (FILE_ATTRIBUTE_*). Windows only. */
export async function getFileAttributes(file: string): Promise<number> {
  api ??= bind()
  const w = await api
  const full = path.resolve(file)
  const attributes = w.GetFileAttributesW(full) as number
  if (attributes === INVALID_FILE_ATTRIBUTES) {
    throw new Error(`GetFileAttributes(${full}) failed (error ${w.GetLastError()})`)
  }
  return attributes
}

/** Replace the attribute bits of `file`. Windows only. */
export async function setFileAttributes(file: string, attributes: number): Promise<void> {
  api ??= bind()
  const w = await api
  const full = path.resolve(file)
  if (!w.SetFileAttributesW(full, attributes)) {
    throw new Error(`SetFileAttributes(${full}, 0x${attributes.toString(16)}) failed (error ${w.GetLastError()})`)
  }
}

/** Add `attributes` to those `file` already has. Windows only. */
export async function addFileAttributes(file: string, attributes: number): Promise<void> {
  const current = await getFileAttributes(file)
  await setFileAttributes(file, ((current & ~FILE_ATTRIBUTE_NORMAL) | attributes) >>> 0)
}
