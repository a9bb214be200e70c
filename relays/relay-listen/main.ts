import type { Duplex, Writable } from 'node:stream'
import { type CliSpec, flagValueError, parseCli, parseCount } from '../../shared/cli.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { FlagError } from '../../shared/go-flags.js'
import { type Log, createLog, openLogFile } from '../../shared/log.js'
import { startInBackground } from '../../shared/listen/background.js'
import { connectionHandler, muxHandler } from '../../shared/listen/connection-handler.js'
import { Limiter } from '../../shared/listen/limiter.js'
import { listenerFor } from '../../shared/listen/listener-for.js'
import { takeActivatedSockets } from '../../shared/listen/socket-activation.js'
import type { ListenerKind, Listening } from '../../shared/listen/listener.js'
import { MuxProcess } from '../../shared/mux/mux-process.js'
import type { FindRelay, RelayDefinition, RelayIo } from '../../shared/relay.js'
import { RelayError, messageOf } from '../../shared/relay-error.js'
import { listenAddress, pageantFlags } from './pageant-flags.js'

export const cli: CliSpec = {
  name: 'relay-listen',
  synopsis: '[flags] SOCKET|--pageant -- RELAY|COMMAND [ARGS...]',
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
    'SOCKET, exit 0 at once. SIGTERM, SIGINT and SIGHUP remove SOCKET, then exit 0.',
    'Started by systemd socket activation (LISTEN_FDS), it serves the socket handed',
    'over (SOCKET names it) and leaves the file to systemd.',
    '  relay-listen ~/.ssh/agent.sock -- /mnt/c/tools/relaykit.exe pageant-relay',
    'With --pageant (Windows), relaykit is Pageant for PuTTY-family clients: it serves',
    "Pageant's named pipe and its WM_COPYDATA window; if a Pageant runs already, exit 0.",
    '  relay-listen --pageant -- npiperelay -ei -s //./pipe/openssh-ssh-agent',
  ].join('\n'),
  flags: [
    { name: 'background', type: 'boolean', help: 'detach once listening (for shell profiles)' },
    { name: 'spawn', type: 'boolean', help: 'always spawn COMMAND per connection, even for a relaykit relay' },
    { name: 'mux', type: 'boolean', help: 'COMMAND is a long-lived `relaykit mux RELAY …`: start it once, carry every connection as a stream over it, restart it if it dies' },
    { name: 'max-connections', type: 'string', value: 'N', help: 'relays running at once; more connections wait, never dropped (default 64)' },
    { name: 'logfile', type: 'string', value: 'PATH', help: 'diagnostics to PATH (appended) instead of stderr' },
    { name: 'cygwin', type: 'boolean', help: 'SOCKET is a Cygwin/MSYS2 socket file to serve (Git for Windows ssh, MSYS2): TCP on 127.0.0.1 + secret handshake' },
    ...pageantFlags,
  ],
  positionals: { min: 0 },
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

/** `relay-listen [flags] SOCKET [flags] -- COMMAND…`; `findRelay` resolves COMMAND to an in-process relay. */
export async function main(argv: readonly string[], io: RelayIo, findRelay: FindRelay): Promise<number> {
  const { head, command } = splitCommandLine(argv)
  const parsed = parseCli(cli, head, io)
  if (!parsed.ok) return parsed.code
  const { flags } = parsed
  let address: string
  let listenOn: ReturnType<typeof listenAddress>
  let max: number
  try {
    listenOn = listenAddress(flags, parsed.args, command)
    address = listenOn.address
    max = parseCount(flags['max-connections'] ?? '64', 'max-connections')
    if (command.length === 0) {
      throw new FlagError(`no command to run per connection: put it after --, e.g. relay-listen ${address} -- uds-relay /path/to/agent.sock`)
    }
  } catch (err) {
    return flagValueError(cli, io, err)
  }
  // --logfile takes everything: our lines, and the relays' and commands' stderr.
  let stderr: Writable
  try {
    stderr = flags.logfile ? await openLogFile(flags.logfile as string) : io.stderr
  } catch (err) {
    return fail(createLog(io.stderr, cli.name, false), err)
  }
  const log = createLog(stderr, cli.name, flags.v === true)

  let kind: ListenerKind
  try {
    // Taken out of the environment before any relay or command is started.
    const activated = takeActivatedSockets(io.env, process.pid)
    kind = await listenerFor(address, { cygwin: flags.cygwin === true, pageant: listenOn.pageant, activated })
    if (flags.background) return await startInBackground(argv.filter((a) => !/^--?background(=true)?$/.test(a)), address, kind, { stderr: io.stderr, env: io.env }, log)
  } catch (err) {
    return fail(log, err)
  }

  const ctx = { log, stderr, env: io.env }
  const mux = flags.mux ? new MuxProcess(command, ctx) : undefined
  const handler = mux ? muxHandler(mux, log) : connectionHandler(command, flags.spawn === true, findRelay, ctx)
  const limiter = new Limiter(max)
  const open = new Set<Duplex>()
  // Before listening: a signal that comes while the address is being made still gets it removed.
  const signal = nextSignal(log)
  try {
    const outcome = await kind.listen(
      address,
      (connection) => {
        open.add(connection)
        connection.once('close', () => open.delete(connection))
        void limiter.run(() => handler(connection))
      },
      { log },
    )
    if (outcome.alreadyServed) {
      // Pageant's clients find the other Pageant, which may not hold the keys the user expects: say so.
      const say = listenOn.pageant ? log.error : log.debug
      say(`${address} is already served${outcome.by ? ` by ${outcome.by}` : ''}: nothing to do`)
      return ExitCode.OK
    }
    log.debug(`listening on ${address} (${handler.mode}: ${command.join(' ')})`)
    await signal.received
    await closeAll(outcome, open, mux)
    log.debug(`closed ${address}`)
    return ExitCode.OK
  } catch (err) {
    return fail(log, err)
  } finally {
    signal.dispose()
  }
}

/** SIGTERM, SIGINT or SIGHUP (on Windows also Ctrl+Break; Ctrl+C and the console closing arrive as SIGINT and SIGHUP). */
function nextSignal(log: Log): { received: Promise<void>; dispose(): void } {
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', ...(process.platform === 'win32' ? (['SIGBREAK'] as const) : [])]
  let stop: (signal: NodeJS.Signals) => void = () => {}
  const received = new Promise<void>((resolve) => {
    stop = (signal) => {
      log.debug(`${signal}: closing`)
      resolve()
    }
  })
  for (const s of signals) process.on(s, stop)
  return { received, dispose: () => signals.forEach((s) => process.removeListener(s, stop)) }
}

/** The address goes first (so no client finds it while we wind down), then the connections and the mux. */
async function closeAll(listening: Listening, open: Set<Duplex>, mux: MuxProcess | undefined): Promise<void> {
  await listening.close()
  for (const connection of open) connection.destroy()
  mux?.stop()
}

function fail(log: Log, err: unknown): number {
  const e = err instanceof RelayError ? err : new RelayError(messageOf(err))
  log.error(e.message)
  return e.exitCode
}

export function relayListen(findRelay: FindRelay): RelayDefinition {
  return {
    name: cli.name,
    summary: 'accept connections on a private Unix socket and run a relay (or any command) per connection',
    main: (argv, io) => main(argv, io, findRelay),
  }
}
