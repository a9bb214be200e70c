import { kernel32 } from './kernel32.js'

/**
 * kernel32 process exit, for run-standalone.ts. Node's own exit joins its
 * worker threads, and on Windows a worker blocked in ReadFile on a stdin
 * pipe that never reaches EOF never returns, so `process.exit()` would hang
 * for as long as the client keeps stdin open (seen with `-ep` under Wine);
 * and once koffi is loaded, Node's exit trips over the stdio handles
 * ("Failed to sync '<stdout>'", a wrong exit code). TerminateProcess ends
 * the process at once with the code given; callers use it only after
 * stdout is flushed.
 */
export async function terminateSelf(code: number): Promise<never> {
  const k = await kernel32()
  k.TerminateProcess(k.GetCurrentProcess(), code)
  throw new Error('TerminateProcess returned')
}
