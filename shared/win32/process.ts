import { koffi } from './koffi.js'

/**
 * kernel32 process exit. Node's own exit joins its worker threads, and on
 * Windows a worker blocked in ReadFile on a stdin pipe that never reaches
 * EOF never returns, so `process.exit()` would hang for as long as the
 * client keeps stdin open (seen with `-ep` under Wine). TerminateProcess
 * ends the process at once; callers use it only after stdout is flushed.
 */
export async function terminateSelf(code: number): Promise<never> {
  const ffi = await koffi()
  const kernel32 = ffi.load('kernel32.dll')
  const GetCurrentProcess = kernel32.func('void * __stdcall GetCurrentProcess()')
  const TerminateProcess = kernel32.func('int __stdcall TerminateProcess(void *hProcess, uint32_t uExitCode)')
  TerminateProcess(GetCurrentProcess(), code)
  throw new Error('TerminateProcess returned')
}
