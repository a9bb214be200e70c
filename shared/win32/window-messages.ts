import { WIN32 } from './errors.js'
import { kernel32 } from './kernel32.js'
import { koffi } from './koffi.js'

/**
 * user32 window lookup and WM_COPYDATA, the message Pageant has answered
 * since PuTTY 0.5x. SendMessageTimeout (never plain SendMessage) so a hung
 * Pageant window cannot hang the relay, and called on a koffi worker thread
 * so the event loop keeps running while Pageant works.
 */

const WM_COPYDATA = 0x004a
const SMTO_BLOCK = 0x0001
const SMTO_ABORTIFHUNG = 0x0002

let api: ReturnType<typeof bind> | undefined

async function bind() {
  const ffi = await koffi()
  const user32 = ffi.load('user32.dll')
  ffi.struct('RELAYKIT_COPYDATASTRUCT', {
    dwData: 'uintptr_t',
    cbData: 'uint32_t',
    lpData: 'const char *',
  })
  return {
    FindWindowW: user32.func('void * __stdcall FindWindowW(const char16_t *lpClassName, const char16_t *lpWindowName)'),
    SendMessageTimeoutW: user32.func(
      'intptr_t __stdcall SendMessageTimeoutW(void *hWnd, uint32_t Msg, uintptr_t wParam, RELAYKIT_COPYDATASTRUCT *lParam, uint32_t fuFlags, uint32_t uTimeout, _Out_ uintptr_t *lpdwResult)',
    ),
    GetLastError: (await kernel32()).GetLastError,
  }
}

/** The top-level window with this class and title, or null. */
export async function findWindow(className: string, title: string): Promise<unknown> {
  api ??= bind()
  const w = await api
  return (w.FindWindowW(className, title) as unknown) ?? null
}

/** What a WM_COPYDATA exchange gave. */
export interface CopyDataResult {
  /** SendMessageTimeout succeeded (the window answered in time). */
  delivered: boolean
  /** The window procedure's return value. */
  result: bigint | number
  /**
   * Why it failed: WIN32.TIMEOUT when the whole time went by (Pageant did not
   * answer in time), else GetLastError, which may be another call's: koffi
   * keeps one last error per thread, and any `.async` call ending after this
   * one and before its callback replaces it.
   */
  error: number
}

/**
 * Send WM_COPYDATA with `dwData` and the NUL-terminated ASCII `text` as its
 * payload, waiting at most `timeoutMs`.
 */
export async function sendCopyData(hwnd: unknown, dwData: number, text: string, timeoutMs: number): Promise<CopyDataResult> {
  api ??= bind()
  const w = await api
  const cds = { dwData, cbData: Buffer.byteLength(text, 'latin1') + 1, lpData: text }
  const out = [0]
  const started = performance.now()
  const ret = await new Promise<bigint | number>((resolve, reject) => {
    w.SendMessageTimeoutW.async(hwnd, WM_COPYDATA, 0, cds, SMTO_BLOCK | SMTO_ABORTIFHUNG, timeoutMs, out, (err: unknown, value: bigint | number) =>
      err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(value),
    )
  })
  const delivered = ret !== 0 && ret !== 0n
  const error = delivered ? 0 : performance.now() - started >= timeoutMs ? WIN32.TIMEOUT : (w.GetLastError() as number)
  return { delivered, result: out[0] ?? 0, error }
}

let posting: ReturnType<typeof bindPosting> | undefined

async function bindPosting() {
  const ffi = await koffi()
  const user32 = ffi.load('user32.dll')
  return {
    ffi,
    PostMessageW: user32.func('int __stdcall PostMessageW(intptr_t hWnd, uint32_t Msg, uintptr_t wParam, intptr_t lParam)'),
    GetWindowThreadProcessId: user32.func('uint32_t __stdcall GetWindowThreadProcessId(void *hWnd, _Out_ uint32_t *lpdwProcessId)'),
  }
}

const WM_CLOSE = 0x0010

/** Post `msg` to the window `hwnd` (an address, or a window as {@link findWindow} gives it), without waiting. */
export async function postMessage(hwnd: unknown, msg: number, wParam: number, lParam: number): Promise<boolean> {
  posting ??= bindPosting()
  const w = await posting
  const address = typeof hwnd === 'number' ? hwnd : Number(w.ffi.address(hwnd))
  return (w.PostMessageW(address, msg, wParam, lParam) as number) !== 0
}

/** Ask the window `hwnd` (an address) to close, without waiting for it. */
export function postClose(hwnd: number): Promise<boolean> {
  return postMessage(hwnd, WM_CLOSE, 0, 0)
}

/** The id of the process that owns the window `hwnd` (as {@link findWindow} gives it), or 0. */
export async function windowProcessId(hwnd: unknown): Promise<number> {
  posting ??= bindPosting()
  const pid = [0]
  ;(await posting).GetWindowThreadProcessId(hwnd, pid)
  return pid[0] ?? 0
}

let props: ReturnType<typeof bindProps> | undefined

async function bindProps() {
  const ffi = await koffi()
  return { GetPropW: ffi.load('user32.dll').func('intptr_t __stdcall GetPropW(void *hWnd, const char16_t *lpString)') }
}

/** The value of window property `name` on `hwnd` (0 when unset): readable from any process. */
export async function windowProperty(hwnd: unknown, name: string): Promise<number> {
  props ??= bindProps()
  return Number((await props).GetPropW(hwnd, name))
}

/** The text of global atom `atom` (as a window property may hold one), or undefined. */
export async function globalAtomName(atom: number): Promise<string | undefined> {
  const k = await kernel32()
  const buf = Buffer.alloc(2 * 256)
  const length = k.GlobalGetAtomNameW(atom, buf, 256) as number
  return length ? buf.toString('utf16le', 0, 2 * length) : undefined
}
