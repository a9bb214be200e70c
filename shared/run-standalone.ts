import { ExitCode } from './exit-codes.js'
import type { RelayMain } from './relay.js'
import { endWritable } from './pump.js'
import { messageOf } from './relay-error.js'
import { openStdio } from './stdio.js'

/**
 * Run a relay as its own process: real stdio in, exit code out.
 *
 * Before exiting, whatever is still on its way to stdout is flushed: a data
 * relay resolves only once it has done that itself, but `--help`,
 * `--version` and reports write and return at once, and `process.exit()`
 * does not wait for a write in flight (on Windows a write to a file or
 * pipe goes through libuv's thread pool, and exiting loses it whole). Exiting explicitly (rather than
 * waiting for the loop to drain) is what stops a stdin read still parked in
 * a worker thread (Windows, `fs` stdio) from keeping a finished relay alive.
 * On Windows even
 * `process.exit()` waits for that thread, and once koffi is loaded Node's
 * exit trips over the stdio handles (`Failed to sync '<stdout>'`, a wrong
 * exit code); in those cases the process is terminated instead, with the
 * exit code it earned, everything having been flushed already.
 */
export async function runStandalone(main: RelayMain, argv: readonly string[]): Promise<never> {
  // koffi is used on Windows only (and only there is its cache to check), so
  // elsewhere neither koffi.ts nor the check is evaluated. The check is set
  // here, not in koffi.ts, because it needs the Win32 modules, which need
  // koffi.ts; it is loaded only with koffi.
  const win32 = process.platform === 'win32' ? await import('./win32/koffi.js') : undefined
  win32?.checkKoffiCacheWith(() => import('./win32/koffi-cache-check.js').then((m) => m.checkKoffiCache))
  const stdio = openStdio()
  // Not a spread: that would open stdin, which a relay opens only if it reads it.
  const io = Object.assign(stdio, { env: process.env })
  let code: number
  try {
    code = await main(argv, io)
  } catch (err) {
    io.stderr.write(`relaykit: internal error: ${err instanceof Error ? (err.stack ?? err.message) : messageOf(err)}\n`)
    code = ExitCode.ERROR
  }
  await endWritable(io.stdout)
  if (win32 && ((stdio.stdinOpened() && !io.stdin.readableEnded) || win32.koffiLoaded())) {
    const { terminateSelf } = await import('./win32/process.js')
    await terminateSelf(code).catch(() => process.exit(code))
  }
  process.exit(code)
}
