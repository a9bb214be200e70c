import { spawn } from 'node:child_process'
import fs from 'node:fs'
import type { Duplex } from 'node:stream'
import path from 'node:path'
import { parseCli, type CliSpec } from '../../shared/cli.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { createLog, type Log } from '../../shared/log.js'
import type { RelayDefinition, RelayIo } from '../../shared/relay.js'
import { RelayError, messageOf } from '../../shared/relay-error.js'
import { isSea } from '../../shared/sea.js'
import { syncWriter } from '../../shared/stdio.js'
import { findRelay } from '../index.js'
import { listenCygwin } from '../../shared/channels/cygwin/server.js'
import { isLiveAfUnix, listenAfUnix } from '../../shared/channels/af-unix/af-unix.js'
import { Limiter } from '../../shared/listen/limiter.js'
import { isLive, listenUnix } from '../../shared/channels/unix/server.js'
import { MuxProcess } from '../../shared/mux/mux-process.js'
import { spawnForConnection } from '../../shared/listen/spawn-per-connection.js'

export const cli: CliSpec = {
  name: 'relay-listen',
  synopsis: '[flags] SOCKET -- RELAY|COMMAND [ARGS...]',
  description: [
    'Accepts connections on SOCKET and gives each one its own relay: the listener that',
    'replaces `socat UNIX-LISTEN:…,fork EXEC:…` and the shell-profile dance around it.',
    'A relaykit relay of this platform runs in-process (no process per connection);',
    'anything else (e.g. relaykit.exe from WSL) is spawned per connection, with the',
    'connection as its stdin/stdout. SOCKET may also be a Windows named pipe',
    '(//./pipe/name, only this user, no remote clients) or, with --cygwin, a',
    'Cygwin/MSYS2 socket file. On Windows a plain SOCKET path is an AF_UNIX socket',
    '(Windows 10 1803+). The socket is private (0600; on Windows a DACL for this',
    'user only); a stale socket is replaced; if a live listener already serves',
    'SOCKET, exit 0 at once.',
    '  relay-listen ~/.ssh/agent.sock -- /mnt/c/tools/relaykit.exe pageant-relay',
  ].join('\n'),
  flags: [
    { name: 'background', type: 'boolean', help: 'detach once listening (for shell profiles)' },
    { name: 'spawn', type: 'boolean', help: 'always spawn COMMAND per connection, even for a relaykit relay' },
    { name: 'mux', type: 'boolean', help: 'COMMAND is a long-lived `relaykit mux RELAY …`: start it once, carry every connection as a stream over it, restart it if it dies' },
    { name: 'max-connections', type: 'string', value: 'N', help: 'relays running at once; more connections wait, never dropped (default 64)' },
    { name: 'logfile', type: 'string', value: 'PATH', help: 'diagnostics to PATH (appended) instead of stderr' },
    { name: 'cygwin', type: 'boolean', help: 'SOCKET is a Cygwin/MSYS2 socket file to serve (Git for Windows ssh, MSYS2): TCP on 127.0.0.1 + secret handshake' },
  ],
  positionals: 1,
}

/**
 * Flags may stand on either side of SOCKET (`relay-listen SOCKET --mux --
 * CMD`, as users write it); only `--` ends them. Returns the flag words
 * first, then SOCKET, then the command.
 */
export function splitCommandLine(argv: readonly string[]): { head: string[]; command: string[] } {
  const dashdash = argv.indexOf('--')
  const before = dashdash < 0 ? [...argv] : argv.slice(0, dashdash)
  const takesValue = new Set(cli.flags.filter((f) => f.type === 'string').map((f) => f.name))
  const flagWords: string[] = []
  const others: string[] = []
  for (let i = 0; i < before.length; i++) {
    const word = before[i] as string
    if (word.startsWith('-') && word.length > 1 && (dashdash >= 0 || others.length === 0)) {
      flagWords.push(word)
      if (takesValue.has(word.replace(/^--?/, '')) && i + 1 < before.length) flagWords.push(before[++i] as string)
    } else others.push(word)
  }
  const [address, ...rest] = others
  return {
    head: [...flagWords, ...(address === undefined ? [] : [address])],
    command: dashdash < 0 ? rest : [...rest, ...argv.slice(dashdash + 1)],
  }
}

/** `relay-listen [flags] SOCKET [flags] -- COMMAND…` */
export async function main(argv: readonly string[], io: RelayIo): Promise<number> {
  const { head, command } = splitCommandLine(argv)
  const parsed = parseCli(cli, head, io)
  if (!parsed.ok) return parsed.code
  const { flags } = parsed
  const address = parsed.args[0] as string
  const max = Number(flags['max-connections'] ?? 64)
  let stderr = io.stderr
  try {
    if (flags.logfile) stderr = syncWriter(fs.openSync(flags.logfile as string, 'a', 0o600))
  } catch (err) {
    io.stderr.write(`relay-listen: cannot open the log file: ${messageOf(err)}\n`)
    return ExitCode.USAGE
  }
  const log = createLog(stderr, cli.name, flags.v === true)
  if (command.length === 0 || !Number.isInteger(max) || max < 1) {
    log.error('give a command after --, and --max-connections a whole number >= 1')
    return ExitCode.USAGE
  }
  if (flags.background) return detach(argv, address, io, log)

  const muxProcess = flags.mux ? new MuxProcess(command, { log, stderr, env: io.env }) : undefined
  const handler = muxProcess ? muxHandler(muxProcess, log) : connectionHandler(command, flags.spawn === true, { log, stderr, env: io.env })
  const limiter = new Limiter(max)
  const open = new Set<Duplex>()
  const onConnection = (socket: Duplex) => {
    open.add(socket)
    socket.once('close', () => open.delete(socket))
    void limiter.run(() => handler(socket))
  }
  let close: () => void
  try {
    if (isPipeName(address)) {
      if (process.platform !== 'win32') throw new RelayError(`${address} is a Windows named pipe: run relaykit.exe on Windows to listen there`, ExitCode.USAGE)
      const { listenNamedPipe } = await import('../../shared/win32/pipe-server.js')
      const server = await listenNamedPipe(address, onConnection, { onError: (e) => log.error(messageOf(e)) })
      close = () => void server.close({ destroyConnections: true })
    } else if (flags.cygwin) {
      const server = await listenCygwin(address, onConnection, { log })
      close = () => void server.close()
    } else if (process.platform === 'win32') {
      // libuv has no AF_UNIX on Windows: Winsock's, through af-unix.ts.
      const { afUnixHost } = await import('../../shared/win32/af-unix-host.js')
      const listening = await listenAfUnix(path.resolve(address), onConnection, await afUnixHost(), {
        log,
        onError: (e) => log.error(e.message),
      })
      if ('alreadyServed' in listening) {
        log.debug(`${address} is already served by a live listener`)
        return ExitCode.OK
      }
      close = () => void listening.server.close()
    } else {
      const listening = await listenUnix(address, onConnection, log)
      if ('alreadyServed' in listening) {
        log.debug(`${address} is already served by a live listener`)
        return ExitCode.OK
      }
      close = () => {
        listening.server.close()
        fs.rmSync(address, { force: true })
      }
    }
  } catch (err) {
    const e = err instanceof RelayError ? err : new RelayError(messageOf(err))
    // A live server on the same address: the job is done already.
    if (/is in use: a server answers|already in use: another listener owns it/.test(e.message)) return ExitCode.OK
    log.error(e.message)
    return e.exitCode
  }
  log.debug(`listening on ${address} (${handler.mode}: ${command.join(' ')})`)

  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.debug(`${signal}: closing ${address}`)
      process.removeListener('SIGTERM', stop)
      process.removeListener('SIGINT', stop)
      process.removeListener('SIGHUP', stop)
      close()
      for (const s of open) s.destroy()
      muxProcess?.stop()
      resolve(ExitCode.OK)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    process.on('SIGHUP', stop)
  })
}

/** Does a listener answer on the socket file? Windows' AF_UNIX sockets are not libuv's. */
async function live(address: string): Promise<boolean> {
  if (process.platform !== 'win32' || isPipeName(address)) return isLive(address)
  const { afUnixHost } = await import('../../shared/win32/af-unix-host.js')
  return isLiveAfUnix(path.resolve(address), await afUnixHost()).catch(() => false)
}

/** `\\.\pipe\name` or `//./pipe/name`. */
function isPipeName(address: string): boolean {
  return /^[/\\]{2}[.?][/\\]pipe[/\\]/i.test(address)
}

type Handler = ((socket: Duplex) => Promise<void>) & { mode: 'in-process' | 'spawn' | 'mux' }

/** `--mux`: each connection becomes a stream of the one mux process. */
function muxHandler(mux: MuxProcess, log: Log): Handler {
  return Object.assign(
    async (socket: Duplex) => {
      let stream
      try {
        stream = await mux.stream()
      } catch (err) {
        log.error(`no mux to serve the connection: ${messageOf(err)}`)
        socket.destroy()
        return
      }
      await bridge(socket, stream)
    },
    { mode: 'mux' as const },
  )
}

/**
 * Connection <-> mux stream, half-close carried both ways; whichever side
 * goes away abruptly takes the other with it (a client gone: CLOSE to the
 * mux; the mux gone: the client sees EOF at once).
 */
function bridge(socket: Duplex, stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => {})
    stream.on('error', () => {})
    socket.pipe(stream)
    stream.pipe(socket)
    socket.resume()
    let pending = 2
    const done = () => --pending === 0 && resolve()
    socket.once('close', () => {
      if (!stream.destroyed) stream.destroy()
      done()
    })
    stream.once('close', () => {
      if (stream.readableEnded) socket.end()
      else socket.destroy()
      done()
    })
  })
}

/**
 * In-process when the command names a relaykit relay that can run here
 * (`relaykit RELAY …`, `RELAY …`, a link named after one); a Windows .exe
 * seen from Linux is spawned, like anything else that is not ours.
 */
export function connectionHandler(
  command: readonly string[],
  forceSpawn: boolean,
  ctx: { log: Log; stderr: RelayIo['stderr']; env: NodeJS.ProcessEnv },
): Handler {
  const inProcess = forceSpawn ? undefined : relayOf(command)
  if (inProcess) {
    const { relay, args } = inProcess
    return Object.assign(
      async (socket: Duplex) => {
        // Not resumed here: the relay starts reading when it attaches its
        // listeners (after connecting its channel); flowing earlier would
        // drop what the client sent first.
        const code = await relay.main(args, { stdin: socket, stdout: socket, stderr: ctx.stderr, env: ctx.env })
        ctx.log.debug(`${relay.name} ended with exit code ${code}`)
        socket.destroy()
      },
      { mode: 'in-process' as const },
    )
  }
  return Object.assign((socket: Duplex) => spawnForConnection(socket, command, ctx), { mode: 'spawn' as const })
}

function relayOf(command: readonly string[]) {
  const [first, ...rest] = command
  if (!first) return undefined
  const base = path.basename(first.replace(/\\/g, '/'))
  const foreignExe = /\.exe$/i.test(base) && process.platform !== 'win32'
  if (foreignExe) return undefined
  const direct = findRelay(base)
  if (direct && direct.name !== cli.name) return { relay: direct, args: rest }
  if (/^relaykit([-_.].*)?$/i.test(base) && rest[0]) {
    const named = findRelay(rest[0])
    if (named && named.name !== cli.name) return { relay: named, args: rest.slice(1) }
  }
  return undefined
}

/**
 * `--background`: start this same listener detached (own session, no
 * terminal), wait until it answers on the socket, then return; its startup
 * errors are shown here, later ones go to --logfile.
 */
async function detach(argv: readonly string[], address: string, io: RelayIo, log: Log): Promise<number> {
  if (fs.existsSync(address) && (await live(address))) {
    log.debug(`${address} is already served by a live listener`)
    return ExitCode.OK
  }
  const args = argv.filter((a) => !/^--?background(=true)?$/.test(a))
  const self = isSea() ? [process.execPath] : [process.execPath, process.argv[1] as string]
  const invokedAsListener = findRelay(path.basename(self[self.length - 1] as string)) === relayListen
  const child = spawn(self[0] as string, [...self.slice(1), ...(invokedAsListener ? [] : ['relay-listen']), ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: io.env,
  })
  let early = ''
  child.stderr?.on('data', (d: Buffer) => (early += d.toString()))
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) {
      io.stderr.write(early)
      return child.exitCode
    }
    if (fs.existsSync(address) && (await live(address))) break
    if (Date.now() > deadline) {
      log.error(`the background listener did not come up within 10 s${early ? `: ${early}` : ''}`)
      child.kill()
      return ExitCode.TIMEOUT
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  child.stderr?.destroy()
  child.unref()
  log.debug(`listening in the background as pid ${child.pid}`)
  return ExitCode.OK
}

export const relayListen: RelayDefinition = {
  name: cli.name,
  summary: 'accept connections on a private Unix socket and run a relay (or any command) per connection',
  main,
}
