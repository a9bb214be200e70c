import { INVALID_HANDLE_VALUE, kernel32, lastError } from './kernel32.js'
import { handleSecuritySddl, userOnlySecurityAttributes } from './security.js'

/**
 * kernel32 named shared memory (CreateFileMapping/MapViewOfFile): the
 * carrier of Pageant's WM_COPYDATA protocol. The mapping is owned by the
 * current user (Pageant refuses one whose owner is not its own user SID,
 * "wrong owning SID") and its DACL admits that user alone, where PuTTY's
 * own client leaves the token's default DACL. Copied in and out with
 * RtlMoveMemory, so no JavaScript ever holds a raw view of it.
 */

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

/** Create a new mapping called `name`, owned by the current user. */
export async function createSharedMemory(name: string, size: number): Promise<SharedMemory> {
  const w = await kernel32()
  const attributes = await userOnlySecurityAttributes()
  // A mapping backed by the paging file: no file handle.
  const handle = w.CreateFileMappingW(INVALID_HANDLE_VALUE, attributes, PAGE_READWRITE, 0, size, name) as number
  if (!handle) throw lastError(w, `CreateFileMapping(${name})`)
  const view: unknown = w.MapViewOfFile(handle, FILE_MAP_WRITE, 0, 0, 0)
  if (!view) {
    const error = lastError(w, `MapViewOfFile(${name})`)
    w.CloseHandle(handle)
    throw error
  }
  const address = Number(w.ffi.address(view))
  let closed = false
  return {
    name,
    size,
    write(bytes) {
      if (bytes.length > size) throw new RangeError('write beyond the mapping')
      w.CopyIn(address, bytes, bytes.length)
    },
    read(length) {
      if (length > size) throw new RangeError('read beyond the mapping')
      const out = Buffer.alloc(length)
      w.CopyOut(out, address, length)
      return out
    },
    securityDescriptor: () => handleSecuritySddl(handle),
    close() {
      if (closed) return
      closed = true
      w.UnmapViewOfFile(view)
      w.CloseHandle(handle)
    },
  }
}
