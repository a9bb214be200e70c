import { INVALID_HANDLE_VALUE, type Kernel32, kernel32, lastError } from './kernel32.js'
import { handleSecuritySddl, parseSddl, userOnlySecurityAttributes } from './security.js'

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
  return { ...viewOf(w, name, size, view, handle), securityDescriptor: () => handleSecuritySddl(handle) }
}

/** Copying in and out of a mapped view, and closing it with its handle. */
function viewOf(w: Kernel32, name: string, size: number, view: unknown, handle: number): Omit<SharedMemory, 'securityDescriptor'> {
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
    close() {
      if (closed) return
      closed = true
      w.UnmapViewOfFile(view)
      w.CloseHandle(handle)
    },
  }
}

/** SECTION_ALL_ACCESS, as Pageant opens a client's mapping (it includes READ_CONTROL, to read the owner). */
const FILE_MAP_ALL_ACCESS = 0x000f001f
/** sizeof(MEMORY_BASIC_INFORMATION) on 64-bit, and the offset of its RegionSize. */
const MEMORY_BASIC_INFORMATION_SIZE = 48
const REGION_SIZE_OFFSET = 24

/** A mapping somebody else created, opened by name: what Pageant's window is handed. */
export interface OpenedMapping extends Omit<SharedMemory, 'securityDescriptor'> {
  /** The mapping's owner as SDDL writes it (a SID or an alias), undefined when it has none. */
  readonly owner: string | undefined
}

/**
 * Open the mapping `name` as Pageant does (OpenFileMapping with all access,
 * the whole of it mapped); its size is the mapped region's, from
 * VirtualQuery, which is what a client may have written in.
 */
export async function openSharedMemory(name: string): Promise<OpenedMapping> {
  const w = await kernel32()
  const handle = w.OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, name) as number
  if (!handle) throw lastError(w, `OpenFileMapping(${name})`)
  let view: unknown
  try {
    const owner = parseSddl(await handleSecuritySddl(handle)).owner
    view = w.MapViewOfFile(handle, FILE_MAP_WRITE, 0, 0, 0)
    if (!view) throw lastError(w, `MapViewOfFile(${name})`)
    const info = Buffer.alloc(MEMORY_BASIC_INFORMATION_SIZE)
    if (!w.VirtualQuery(view, info, info.length)) throw lastError(w, `VirtualQuery(${name})`)
    const size = Number(info.readBigUInt64LE(REGION_SIZE_OFFSET))
    return { ...viewOf(w, name, size, view, handle), owner: owner || undefined }
  } catch (err) {
    if (view) w.UnmapViewOfFile(view)
    w.CloseHandle(handle)
    throw err
  }
}
