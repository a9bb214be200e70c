import { spawn } from 'node:child_process'
import { ExitCode } from '../exit-codes.js'
import type { Log } from '../log.js'
import type { RelayIo } from '../relay.js'
import { isSea } from '../sea.js'
import type { ListenerKind } from './listener.js'

/** How long a background listener may take to come up before we give up on it. */
export const BACKGROUND_START_MS = 10_000

/**
 * `--background`: start the same listener detached (own session, no
 * terminal), wait until its address is served — by the address kind's own
 * test, so a Cygwin socket file is asked for its secret, not connected to
 * as a Unix socket — then return. Start-up errors are shown here with the
 * child's exit code; later ones go to --logfile.
 *
 * `args` are the listener's own arguments without `--background`.
 */
export async function startInBackground(
  args: readonly string[],
  address: string,
  kind: ListenerKind,
  io: Pick<RelayIo, 'stderr' | 'env'>,
  log: Log,
): Promise<number> {
  if (await kind.isLive(address)) {
    log.debug(`${address} is already served by a live listener`)
    return ExitCode.OK
  }
  const self = selfCommand('relay-listen')
  const child = spawn(self[0] as string, [...self.slice(1), ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: io.env,
    windowsHide: true,
  })
  let early = ''
  child.stderr?.on('data', (d: Buffer) => (early += d.toString()))
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      early += `cannot start ${self[0]}: ${err.message}\n`
      resolve(ExitCode.ERROR)
    })
    child.once('exit', (code, signal) => resolve(code ?? (signal ? ExitCode.ERROR : ExitCode.OK)))
  })
  let code: number | undefined
  void exited.then((c) => (code = c))
  const deadline = Date.now() + BACKGROUND_START_MS
  while (code === undefined) {
    if (await kind.isLive(address)) {
      child.stderr?.destroy()
      child.unref()
      log.debug(`listening in the background as pid ${child.pid}`)
      return ExitCode.OK
    }
    if (Date.now() > deadline) {
      child.kill()
      log.error(`the background listener did not serve ${address} within ${BACKGROUND_START_MS / 1000} s${early ? `: ${early.trim()}` : ''}`)
      return ExitCode.TIMEOUT
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  // It ended before serving: what it said is the reason (or it found the address served).
  await new Promise((r) => setImmediate(r))
  io.stderr.write(early)
  return code
}

/**
 * The command line that runs relay `name` of this very program: the
 * executable (or node and the script), plus the relay's name unless the
 * program was started under that name (a link called `relay-listen`, the
 * npm bin, or `lib/relays/relay-listen/bin.js`).
 */
export function selfCommand(name: string, argv: readonly string[] = process.argv, sea = isSea()): string[] {
  const program = sea ? process.execPath : (argv[1] as string)
  const parts = program.replace(/\\/g, '/').split('/')
  let invoked = (parts.pop() ?? '').replace(/\.(exe|js|cjs|mjs)$/i, '').toLowerCase()
  if (invoked === 'bin') invoked = parts.pop() ?? ''
  const prefix = sea ? [process.execPath] : [process.execPath, program]
  return invoked === name ? prefix : [...prefix, name]
}
