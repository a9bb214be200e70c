import { koffi } from './koffi.js'
import { handleSecuritySddl, userOnlySecurityAttributes } from './security.js'

/**
 * kernel32 named shared memory (CreateFileMapping/MapViewOfFile): the
 * carrier of Pageant's WM_COPYDATA protocol. The mapping is owned by the
 * current user (Pageant refuses one whose owner is not its own user SID,
 * "wrong owning SID") and its DACL admits that user alone, where PuTTY's
 * own client leaves the token's default DACL. Copied in and out with
 * RtlMoveMemory, so no JavaScript ever holds a raw view of it.
 */

const INVALID_HANDLE_VALUE = -1
const PAGE_READWRITE = 0x04
const FILE_MAP_WRITE = 0x0002

/** A named, mapped region of `size` bytes. Call {@link SharedMemory.close} when done. */
export interface SharedMemory {
  readonly name: string
  readonly size: number
  /** Copy `bytes` to the start of the region. */
  write(bytes: Buffer): void
  /** Copy the first `length` bytes of the region out. */
  read(length: number): Buffer
  /** Owner, group and DACL as the system stored them, in SDDL (to check, not assume, who may open it). */
  securityDescriptor(): Promise<string>
  close(): void
}

let api: ReturnType<typeof bind> | undefined

async function bind() {
  const ffi = await koffi()
  const kernel32 = ffi.load('kernel32.dll')
  const ntdll = ffi.load('ntdll.dll')
  return {
    ffi,
    CreateFileMappingW: kernel32.func(
      'void * __stdcall CreateFileMappingW(intptr_t hFile, void *lpAttributes, uint32_t flProtect, uint32_t dwMaximumSizeHigh, uint32_t dwMaximumSizeLow, const char16_t *lpName)',
    ),
    MapViewOfFile: kernel32.func(
      'void * __stdcall MapViewOfFile(void *hFileMappingObject, uint32_t dwDesiredAccess, uint32_t dwFileOffsetHigh, uint32_t dwFileOffsetLow, size_t dwNumberOfBytesToMap)',
    ),
    UnmapViewOfFile: kernel32.func('int __stdcall UnmapViewOfFile(void *lpBaseAddress)'),
    CloseHandle: kernel32.func('int __stdcall CloseHandle(void *hObject)'),
    GetLastError: kernel32.func('uint32_t __stdcall GetLastError()'),
    RtlMoveMemory: ntdll.func('void __stdcall RtlMoveMemory(void *Destination, const void *Source, size_t Length)'),
  }
}

/** Create a new mapping called `name`, owned by the current user. */
export async function createSharedMemory(name: string, size: number): Promise<SharedMemory> {
  api ??= bind()
  const w = await api
  const attributes = await userOnlySecurityAttributes()
  const handle: unknown = w.CreateFileMappingW(INVALID_HANDLE_VALUE, attributes, PAGE_READWRITE, 0, size, name)
  if (!handle) throw new Error(`CreateFileMapping(${name}) failed (error ${w.GetLastError()})`)
  const view: unknown = w.MapViewOfFile(handle, FILE_MAP_WRITE, 0, 0, 0)
  if (!view) {
    const code = w.GetLastError()
    w.CloseHandle(handle)
    throw new Error(`MapViewOfFile(${name}) failed (error ${code})`)
  }
  let closed = false
  return {
    name,
    size,
    write(bytes) {
      if (bytes.length > size) throw new RangeError('write beyond the mapping')
      w.RtlMoveMemory(view, bytes, bytes.length)
    },
    read(length) {
      if (length > size) throw new RangeError('read beyond the mapping')
      const out = Buffer.alloc(length)
      w.RtlMoveMemory(out, view, length)
      return out
    },
    securityDescriptor: () => handleSecuritySddl(w.ffi.address(handle) as bigint),
    close() {
      if (closed) return
      closed = true
      w.UnmapViewOfFile(view)
      w.CloseHandle(handle)
    },
  }
}
