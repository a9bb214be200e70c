import { kernel32 } from './kernel32.js'
import { koffi } from './koffi.js'

/**
 * A Win32 handle that relaykit opened itself (to read its owner first, or
 * to open a file without following a link) turned into a descriptor Node
 * can use: `net.Socket({ fd })` for a pipe, `fs.writeSync(fd)` for a file.
 * libuv looks descriptors up in the C runtime's table, and node.exe links
 * its C runtime statically (no ucrtbase or api-ms-win-crt import), so only
 * node.exe's own copy knows the descriptor: its exported
 * `uv_open_osfhandle` fills that table, where a ucrtbase
 * `_open_osfhandle` would fill another. koffi.load(null) is the running
 * executable (node.exe, or relaykit.exe, which is node.exe).
 */

type OpenOsfHandle = (handle: number) => number
let openOsfHandle: Promise<OpenOsfHandle> | undefined

function bind(): Promise<OpenOsfHandle> {
  return (openOsfHandle ??= koffi().then((ffi) => {
    const fn = ffi.load(null as unknown as string).func('int uv_open_osfhandle(intptr_t os_fd)')
    return (handle: number) => fn(handle) as number
  }))
}

/**
 * The descriptor for `handle`, which now belongs to it (closing the
 * descriptor closes the handle). On failure the handle is closed.
 */
export async function handleToFd(handle: number): Promise<number> {
  const fd = (await bind())(handle)
  if (fd < 0) {
    ;(await kernel32()).CloseHandle(handle)
    throw new Error(`uv_open_osfhandle failed (${fd})`)
  }
  return fd
}
