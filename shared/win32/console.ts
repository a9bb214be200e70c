import { koffi } from './koffi.js'

/**
 * kernel32/user32 console calls. npiperelay's `-bg` hides the console window
 * that Windows opens when the relay is started from a GUI program.
 */

const SW_HIDE = 0

/** Hide this process's console window; resolves to why it could not, or undefined. */
export async function hideConsoleWindow(): Promise<string | undefined> {
  const k = await koffi()
  const kernel32 = k.load('kernel32.dll')
  const user32 = k.load('user32.dll')
  const GetConsoleWindow = kernel32.func('void * __stdcall GetConsoleWindow()')
  const ShowWindow = user32.func('int __stdcall ShowWindow(void *hWnd, int nCmdShow)')
  const hwnd: unknown = GetConsoleWindow()
  if (!hwnd) return 'no console window is attached'
  ShowWindow(hwnd, SW_HIDE)
  return undefined
}
