/**
 * The thread that owns relaykit's Pageant window: a hidden top-level window
 * of class and title "Pageant" (FindWindow, which PuTTY's clients use, does
 * not see message-only windows) and its message loop, run in a
 * worker_threads Worker so that Node's event loop stays free for the relay
 * I/O while this thread blocks in GetMessage.
 *
 * WM_COPYDATA is synchronous: the client's SendMessage returns when the
 * window procedure does. So the procedure checks what Pageant checks about
 * the message itself (dwData is AGENT_COPYDATA_ID, the mapping name is NUL
 * terminated), hands the name to the main thread, and waits for its verdict
 * with MsgWaitForMultipleObjectsEx on an event the main thread sets,
 * dispatching every other message meanwhile: the window keeps answering
 * broadcasts, and another client's WM_COPYDATA is handled nested (its own
 * wait, its own verdict). The wait is bounded: if the main thread never
 * answers, the client gets 0 (no answer), never a hang.
 *
 * This function runs from its source text (`String(pageantWindowThread)`),
 * because a Node single executable cannot start a worker from a file. So it
 * is self-contained: no imports, no outer names; it loads koffi's native
 * addon itself, from the file the main thread loaded, and binds the few
 * user32/kernel32 calls it makes (a worker cannot share the main thread's
 * bindings).
 *
 * The window carries two properties other processes can read: `mark` (our
 * process id) and `mark.note` (a global atom holding `note`).
 *
 * Messages to the parent: `{ ready: hwnd }` once the window exists,
 * `{ failed: message }` if it could not be made, `{ request: name, verdict }`
 * per WM_COPYDATA (`verdict`: an Int32Array over a SharedArrayBuffer, 0 while
 * pending, then the value to return: 1 answered, -1 refused).
 */
export function pageantWindowThread(): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads')
  const data = workerData as { koffiPath: string; event: number; className: string; title: string; mark: string; note: string; waitMs: number }
  const port = parentPort as NonNullable<typeof parentPort>
  const WM_DESTROY = 0x0002
  const WM_CLOSE = 0x0010
  const WM_COPYDATA = 0x004a
  const PM_REMOVE = 0x0001
  const QS_ALLINPUT = 0x04ff
  const MWMO_INPUTAVAILABLE = 0x0004
  const WAIT_OBJECT_0 = 0
  const AGENT_COPYDATA_ID = 0x804e50ba
  const WS_OVERLAPPEDWINDOW = 0x00cf0000
  const CW_USEDEFAULT = -0x80000000
  const MSG_SIZE = 48 // sizeof(MSG) on 64-bit Windows
  const COPYDATA_SIZE = 24 // COPYDATASTRUCT: ULONG_PTR dwData, DWORD cbData (+4 padding), PVOID lpData
  const MAX_NAME = 1024

  const addon = { exports: {} as Record<string, unknown> }
  process.dlopen(addon as unknown as NodeJS.Module, data.koffiPath)
  const ffi = addon.exports as unknown as typeof import('koffi')
  const user32 = ffi.load('user32.dll')
  const kernel32 = ffi.load('kernel32.dll')
  const ntdll = ffi.load('ntdll.dll')
  const WndProc = ffi.proto('intptr_t __stdcall RelaykitPageantWndProc(void *hwnd, uint32_t msg, uintptr_t wParam, intptr_t lParam)')
  const WndClass = ffi.struct('RELAYKIT_WNDCLASSW', {
    style: 'uint32_t',
    lpfnWndProc: ffi.pointer(WndProc),
    cbClsExtra: 'int',
    cbWndExtra: 'int',
    hInstance: 'void *',
    hIcon: 'void *',
    hCursor: 'void *',
    hbrBackground: 'void *',
    lpszMenuName: 'void *',
    lpszClassName: 'const char16_t *',
  })
  const RegisterClassW = user32.func('__stdcall', 'RegisterClassW', 'uint16_t', [ffi.pointer(WndClass)])
  const UnregisterClassW = user32.func('int __stdcall UnregisterClassW(const char16_t *lpClassName, void *hInstance)')
  const CreateWindowExW = user32.func(
    'void * __stdcall CreateWindowExW(uint32_t dwExStyle, const char16_t *lpClassName, const char16_t *lpWindowName, uint32_t dwStyle, int X, int Y, int nWidth, int nHeight, void *hWndParent, void *hMenu, void *hInstance, void *lpParam)',
  )
  const SetPropW = user32.func('int __stdcall SetPropW(void *hWnd, const char16_t *lpString, intptr_t hData)')
  const DestroyWindow = user32.func('int __stdcall DestroyWindow(void *hWnd)')
  const DefWindowProcW = user32.func('intptr_t __stdcall DefWindowProcW(void *hWnd, uint32_t Msg, uintptr_t wParam, intptr_t lParam)')
  const GetMessageW = user32.func('int __stdcall GetMessageW(void *lpMsg, void *hWnd, uint32_t wMsgFilterMin, uint32_t wMsgFilterMax)')
  const PeekMessageW = user32.func('int __stdcall PeekMessageW(void *lpMsg, void *hWnd, uint32_t wMsgFilterMin, uint32_t wMsgFilterMax, uint32_t wRemoveMsg)')
  const TranslateMessage = user32.func('int __stdcall TranslateMessage(void *lpMsg)')
  const DispatchMessageW = user32.func('intptr_t __stdcall DispatchMessageW(void *lpMsg)')
  const PostQuitMessage = user32.func('void __stdcall PostQuitMessage(int nExitCode)')
  const MsgWaitForMultipleObjectsEx = user32.func(
    'uint32_t __stdcall MsgWaitForMultipleObjectsEx(uint32_t nCount, void *pHandles, uint32_t dwMilliseconds, uint32_t dwWakeMask, uint32_t dwFlags)',
  )
  const GetModuleHandleW = kernel32.func('void * __stdcall GetModuleHandleW(void *lpModuleName)')
  const GetLastError = kernel32.func('uint32_t __stdcall GetLastError()')
  const GlobalAddAtomW = kernel32.func('uint16_t __stdcall GlobalAddAtomW(const char16_t *lpString)')
  const GlobalDeleteAtom = kernel32.func('uint16_t __stdcall GlobalDeleteAtom(uint16_t nAtom)')
  const CopyOut = ntdll.func('void __stdcall RtlMoveMemory(void *Destination, uintptr_t Source, size_t Length)')

  const events = Buffer.alloc(8)
  events.writeBigInt64LE(BigInt(data.event))
  let quitCode: number | undefined

  /** The mapping name a WM_COPYDATA carries, or undefined when Pageant would ignore the message. */
  function mappingName(lParam: number | bigint): string | undefined {
    const cds = Buffer.alloc(COPYDATA_SIZE)
    CopyOut(cds, lParam, COPYDATA_SIZE)
    if (cds.readBigUInt64LE(0) !== BigInt(AGENT_COPYDATA_ID)) return undefined
    const size = cds.readUInt32LE(8)
    const text = cds.readBigUInt64LE(16)
    if (size === 0 || size > MAX_NAME || text === 0n) return undefined
    const name = Buffer.alloc(size)
    CopyOut(name, text, size)
    // Pageant: "failure to be ASCIZ!"
    if (name[size - 1] !== 0) return undefined
    return name.toString('latin1', 0, name.indexOf(0))
  }

  /** Hand the name over and pump messages until the main thread's verdict, or the bound. */
  function answer(name: string): number {
    const verdict = new Int32Array(new SharedArrayBuffer(4))
    port.postMessage({ request: name, verdict })
    const deadline = Date.now() + data.waitMs
    const msg = Buffer.alloc(MSG_SIZE)
    for (;;) {
      const v = Atomics.load(verdict, 0)
      if (v !== 0) return v > 0 ? 1 : 0
      const left = deadline - Date.now()
      if (left <= 0) return 0
      const woke = MsgWaitForMultipleObjectsEx(1, events, left, QS_ALLINPUT, MWMO_INPUTAVAILABLE) as number
      if (woke === WAIT_OBJECT_0 + 1) {
        // Sent messages are delivered inside PeekMessage; posted ones are dispatched here.
        while (quitCode === undefined && PeekMessageW(msg, null, 0, 0, PM_REMOVE)) {
          if (msg.readUInt32LE(8) === 0x0012 /* WM_QUIT */) quitCode = msg.readInt32LE(16)
          else {
            TranslateMessage(msg)
            DispatchMessageW(msg)
          }
        }
      }
    }
  }

  const wndProc = ffi.register((hwnd: unknown, msg: number, wParam: number | bigint, lParam: number | bigint): number | bigint => {
    switch (msg) {
      case WM_COPYDATA: {
        const name = mappingName(lParam)
        return name === undefined ? 0 : answer(name)
      }
      case WM_CLOSE:
        DestroyWindow(hwnd)
        return 0
      case WM_DESTROY:
        PostQuitMessage(0)
        return 0
      default:
        return DefWindowProcW(hwnd, msg, wParam, lParam) as number | bigint
    }
  }, ffi.pointer(WndProc))

  const instance = GetModuleHandleW(null)
  if (!RegisterClassW({ lpfnWndProc: wndProc, hInstance: instance, lpszClassName: data.className })) {
    port.postMessage({ failed: `RegisterClass(${data.className}) failed (error ${GetLastError() as number})` })
    return
  }
  const hwnd = CreateWindowExW(0, data.className, data.title, WS_OVERLAPPEDWINDOW, CW_USEDEFAULT, CW_USEDEFAULT, 100, 100, null, null, instance, null)
  if (!hwnd) {
    port.postMessage({ failed: `CreateWindowEx(${data.className}) failed (error ${GetLastError() as number})` })
    UnregisterClassW(data.className, instance)
    return
  }
  // A mark other programs can read (GetProp works across processes): relaykit's doctor tells us from a real Pageant by it.
  SetPropW(hwnd, data.mark, process.pid)
  // And a line of text (what relaykit passes requests to) as a global atom, whose number another property holds.
  const note = (GlobalAddAtomW(data.note.slice(0, 255)) as number) || 0
  if (note) SetPropW(hwnd, `${data.mark}.note`, note)
  port.postMessage({ ready: Number(ffi.address(hwnd)) })
  const msg = Buffer.alloc(MSG_SIZE)
  while (quitCode === undefined && (GetMessageW(msg, null, 0, 0) as number) > 0) {
    TranslateMessage(msg)
    DispatchMessageW(msg)
  }
  if (note) GlobalDeleteAtom(note)
  UnregisterClassW(data.className, instance)
  ffi.unregister(wndProc)
}
