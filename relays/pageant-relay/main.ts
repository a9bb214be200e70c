import { type AgentPolicy, parsePolicy, policyFlags } from '../../shared/agent/policy.js'
import { relayAgent } from '../../shared/agent/relay.js'
import { emulate } from '../../shared/agent/emulation.js'
import { type EmulationOptions, emulationFlags, parseEmulation } from '../../shared/agent/emulation-options.js'
import { type CliSpec, flagValueError, parseChoice, parseCli, parseSeconds } from '../../shared/cli.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { createLog, type Log, openLogFile } from '../../shared/log.js'
import { pump } from '../../shared/pump.js'
import type { RelayDefinition, RelayIo } from '../../shared/relay.js'
import { RelayError, messageOf } from '../../shared/relay-error.js'
import { PageantTransport, TRANSPORT_MODES, type TransportMode } from '../../shared/channels/pageant/transport.js'

export const cli: CliSpec = {
  name: 'pageant-relay',
  synopsis: '[flags]',
  description: [
    'Answers SSH agent requests on stdin with PuTTY Pageant (or anything that answers as',
    'Pageant: KeeAgent, KeePassXC, gpg-agent with putty support), through its named pipe',
    '(Pageant 0.75+) or WM_COPYDATA. Messages up to 256 KiB; a request Pageant cannot',
    'answer gets SSH_AGENT_FAILURE and the session goes on; the exit code is then that of the',
    'first such failure (3: Pageant not running). Replaces wsl2-ssh-pageant.exe:',
    '  socat UNIX-LISTEN:$SSH_AUTH_SOCK,fork EXEC:/mnt/c/tools/pageant-relay.exe',
  ].join('\n'),
  flags: [
    { name: 'transport', type: 'string', value: 'auto|pipe|wmcopydata', help: "Pageant's door: auto (pipe, then WM_COPYDATA), pipe, or wmcopydata (default auto)" },
    { name: 'ssh', type: 'string', value: 'PIPE', help: 'send agent requests to this named pipe instead of Pageant (e.g. //./pipe/openssh-ssh-agent)' },
    { name: 'gpg', type: 'string', value: 'NAME', help: 'relay to gpg4win\'s libassuan socket NAME (e.g. S.gpg-agent) instead of Pageant' },
    { name: 'gpgConfigBasepath', type: 'string', value: 'DIR', help: 'where --gpg looks (default %LOCALAPPDATA%\\gnupg, then %APPDATA%\\gnupg)' },
    { name: 'logfile', type: 'string', value: 'PATH', help: 'write diagnostics to PATH (appended) instead of stderr' },
    {
      name: 'timeout',
      type: 'string',
      value: 'SECONDS',
      help: 'how long Pageant may take to answer one request before it is answered SSH_AGENT_FAILURE (default 60)',
      aliases: ['request-timeout'],
    },
    ...policyFlags,
    ...emulationFlags,
  ],
  positionals: 0,
}

/** `pageant-relay [flags]` */
export async function main(argv: readonly string[], io: RelayIo): Promise<number> {
  const parsed = parseCli(cli, argv, io)
  if (!parsed.ok) return parsed.code
  const { flags } = parsed
  const verbose = flags.v === true
  let policy: AgentPolicy
  let emulation: EmulationOptions
  let timeoutSeconds: number
  let mode: TransportMode
  try {
    policy = parsePolicy(flags)
    emulation = parseEmulation(flags)
    timeoutSeconds = parseSeconds(flags.timeout ?? '60', 'timeout')
    mode = parseChoice(flags.transport ?? 'auto', 'transport', TRANSPORT_MODES)
  } catch (err) {
    return flagValueError(cli, io, err)
  }
  let log: Log
  try {
    log = createLog(flags.logfile ? await openLogFile(flags.logfile as string) : io.stderr, cli.name, verbose)
  } catch (err) {
    io.stderr.write(`${cli.name}: ${messageOf(err)}\n`)
    return err instanceof RelayError ? err.exitCode : ExitCode.ERROR
  }

  if (flags.gpg) return relayGpg(flags.gpg as string, flags.gpgConfigBasepath as string | undefined, io, log)

  if (process.platform !== 'win32' && !flags.ssh) {
    log.error('Pageant exists only on Windows: run pageant-relay.exe (from WSL too), or pass --ssh SOCKET')
    return ExitCode.UNAVAILABLE
  }
  const pipeName = flags.ssh as string | undefined
  const newTransport = () => new PageantTransport({ mode, pipeName, timeoutMs: timeoutSeconds * 1000, log })
  const transport = newTransport()
  // The request is read (by the thread pool) while koffi loads for the pipe
  // or the window: both before the first query rather than one after the other.
  io.stdin.read(0)
  transport.prepare()
  const id = `pageant-relay ${mode} ${pipeName ?? ''}`
  const query = emulate((request) => transport.query(request), { id, open: newTransport, options: emulation, policy, log, env: io.env })
  try {
    return await relayAgent(io, query, { log })
  } finally {
    transport.close()
  }
}

async function relayGpg(name: string, basepath: string | undefined, io: RelayIo, log: Log): Promise<number> {
  try {
    // Loaded only for --gpg: a Pageant relay does not evaluate the libassuan client.
    const [{ connectAssuan }, { gpgSocketPath }] = await Promise.all([
      import('../../shared/channels/assuan/client.js'),
      import('../../shared/channels/assuan/gpg-socket.js'),
    ])
    const socket = await connectAssuan(gpgSocketPath(name, basepath, io.env))
    return await pump(io, socket, { halfClose: true, log })
  } catch (err) {
    const e = err instanceof RelayError ? err : new RelayError(messageOf(err))
    log.error(e.message)
    return e.exitCode
  }
}

export const pageantRelay: RelayDefinition = {
  name: cli.name,
  summary: 'SSH agent requests on stdin/stdout -> PuTTY Pageant (named pipe or WM_COPYDATA); replaces wsl2-ssh-pageant',
  main,
}
