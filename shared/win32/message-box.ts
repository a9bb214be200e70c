import { koffi } from './koffi.js'

/**
 * A yes/no question on the Windows desktop, for confirming a signature
 * when no askpass program is configured.
 *
 * MessageBoxTimeoutW (user32, exported since Windows XP though absent from
 * the SDK headers) is MessageBoxW with a timeout: it closes the box itself
 * and returns MB_TIMEDOUT, so no unanswered box is left behind on the
 * desktop. It blocks its thread until answered, so it runs on a koffi worker
 * thread (`.async`) and the relay keeps serving other connections. The box
 * is system-modal and topmost with the foreground: a prompt hidden behind
 * other windows would look like a hung ssh. "No" is the default button, so
 * a stray Enter refuses.
 */
const MB_YESNO = 0x0004
const MB_ICONQUESTION = 0x0020
const MB_DEFBUTTON2 = 0x0100
const MB_SYSTEMMODAL = 0x1000
const MB_SETFOREGROUND = 0x10000
const MB_TOPMOST = 0x40000
const IDYES = 6
const MB_TIMEDOUT = 32000

let api: Promise<{ MessageBoxTimeoutW: { async: (...args: unknown[]) => void } }> | undefined

async function bind() {
  const ffi = await koffi()
  const user32 = ffi.load('user32.dll')
  return {
    MessageBoxTimeoutW: user32.func(
      'int __stdcall MessageBoxTimeoutW(void *hWnd, const char16_t *lpText, const char16_t *lpCaption, uint32_t uType, uint16_t wLanguageId, uint32_t dwMilliseconds)',
    ),
  }
}

/** Ask; resolves 'yes', 'no' or 'timeout' (no answer within `timeoutMs`). */
export async function askYesNo(caption: string, text: string, timeoutMs: number): Promise<'yes' | 'no' | 'timeout'> {
  api ??= bind()
  const w = await api
  const style = MB_YESNO | MB_ICONQUESTION | MB_DEFBUTTON2 | MB_SYSTEMMODAL | MB_SETFOREGROUND | MB_TOPMOST
  return new Promise((resolve, reject) => {
    // A backstop, should the box outlive its own timeout: the question is then answered no.
    const late = setTimeout(() => resolve('timeout'), timeoutMs + 2000)
    w.MessageBoxTimeoutW.async(null, text, caption, style, 0, timeoutMs, (err: unknown, button: number) => {
      clearTimeout(late)
      if (err) reject(err instanceof Error ? err : new Error(String(err)))
      else resolve(button === IDYES ? 'yes' : button === MB_TIMEDOUT ? 'timeout' : 'no')
    })
  })
}
