import { koffi } from './koffi.js'
import { findWindow, postMessage } from './window-messages.js'

/**
 * A yes/no question on the Windows desktop, for confirming a signature
 * when no askpass program is configured.
 *
 * MessageBoxTimeoutW (user32, exported since Windows XP though absent from
 * the SDK headers) is MessageBoxW with a timeout. It blocks its thread until
 * answered, so it runs on a koffi worker thread (`.async`) and the relay
 * keeps serving other connections. Not every user32 honours the timeout
 * (Wine 8 ignores it), so when the time is up relaykit also presses the
 * box's No button itself: no unanswered box stays behind on the desktop.
 * Each box gets a caption of its own (a number per process) so that the
 * right one is found when several wait at once. The box is system-modal and
 * topmost with the foreground: a prompt hidden behind other windows would
 * look like a hung ssh. "No" is the default button, so a stray Enter refuses.
 */
const MB_YESNO = 0x0004
const MB_ICONQUESTION = 0x0020
const MB_DEFBUTTON2 = 0x0100
const MB_SYSTEMMODAL = 0x1000
const MB_SETFOREGROUND = 0x10000
const MB_TOPMOST = 0x40000
const IDYES = 6
const IDNO = 7
const MB_TIMEDOUT = 32000
const WM_COMMAND = 0x0111
/** The window class of dialog boxes, message boxes included. */
const DIALOG_CLASS = '#32770'

let api: ReturnType<typeof bind> | undefined
let asked = 0

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
  const title = `${caption} (${++asked})`
  const style = MB_YESNO | MB_ICONQUESTION | MB_DEFBUTTON2 | MB_SYSTEMMODAL | MB_SETFOREGROUND | MB_TOPMOST
  return new Promise((resolve, reject) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      void findWindow(DIALOG_CLASS, title).then((box) => box && postMessage(box, WM_COMMAND, IDNO, 0))
    }, timeoutMs)
    w.MessageBoxTimeoutW.async(null, text, title, style, 0, timeoutMs, (err: unknown, button: number) => {
      clearTimeout(timer)
      if (err) reject(err instanceof Error ? err : new Error(String(err)))
      else resolve(timedOut || button === MB_TIMEDOUT ? 'timeout' : button === IDYES ? 'yes' : 'no')
    })
  })
}
