import { kernel32 } from './kernel32.js'
import { koffi } from './koffi.js'

/**
 * kernel32/user32 console calls. npiperelay's `-bg` hides the console window
 * that Windows opens when the relay is started from a GUI program.
 */

const SW_HIDE = 0

/** Hide this process's console window; resolves to why it could not, or undefined. */
export async function hideConsoleWindow(): Promise<string | undefined> {
  const [ffi, k] = await Promise.all([koffi(), kernel32()])
  const ShowWindow = ffi.load('user32.dll').func('int __stdcall ShowWindow(void *hWnd, int nCmdShow)')
  const hwnd: unknown = k.GetConsoleWindow()
  if (!hwnd) return 'no console window is attached'
  ShowWindow(hwnd, SW_HIDE)
  return undefined
}
