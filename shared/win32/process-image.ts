import { kernel32 } from './kernel32.js'

/**
 * kernel32 process images: which program a process id runs, for saying who
 * already serves an address (Pageant's window belongs to some process).
 */

const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
const MAX_PATH_CHARS = 32_768

/** The full path of the executable process `pid` runs, or undefined when it cannot be read. */
export async function processImage(pid: number): Promise<string | undefined> {
  const k = await kernel32()
  const handle = k.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) as number
  if (!handle) return undefined
  try {
    const buf = Buffer.alloc(2 * MAX_PATH_CHARS)
    const size = [MAX_PATH_CHARS]
    if (!k.QueryFullProcessImageNameW(handle, 0, buf, size)) return undefined
    return buf.toString('utf16le', 0, 2 * (size[0] ?? 0))
  } finally {
    k.CloseHandle(handle)
  }
}

