import { type AgentMode, agentModeFlags, parseAgentMode, relayAgentMessages } from '../../shared/agent/mode.js'
import { flagValueError, parseCli, type CliSpec } from '../../shared/cli.js'
import { dial } from '../../shared/channels/dial.js'
import { createLog } from '../../shared/log.js'
import { pump } from '../../shared/pump.js'
import type { RelayDefinition, RelayIo } from '../../shared/relay.js'
import { RelayError } from '../../shared/relay-error.js'
import { connectPath, pathRetryable } from '../../shared/channels/socket-path.js'
import { type CygwinVariantChoice, cygwinVariantFlag, parseCygwinVariant } from '../../shared/channels/cygwin/variant-flag.js'

export const cli: CliSpec = {
  name: 'uds-relay',
  synopsis: '[flags] SOCKET',
  description: [
    'Relays stdin/stdout to the Unix domain socket SOCKET, e.g. an ssh-agent',
    '($SSH_AUTH_SOCK), or to what a Cygwin/MSYS2 socket file (Git for Windows,',
    'S.gpg-agent.ssh) or a libassuan socket file (gpg-agent) at SOCKET names.',
    'On Windows any other SOCKET is an AF_UNIX socket (Windows 10 1803+).',
    'At stdin EOF the socket is shut down for writing and the',
    "agent's remaining answer still reaches stdout; the relay exits when the",
    'socket closes. With --agent (or -compat/-deny) it relays agent messages one',
    'by one and reconnects to an agent that restarted.',
  ].join('\n'),
  flags: [
    { name: 'p', type: 'boolean', help: 'poll every 200 ms until the socket exists and accepts' },
    { name: 'ei', type: 'boolean', help: 'exit at stdin EOF once no answer is outstanding (no half-close)' },
    { name: 'ep', type: 'boolean', help: 'exit at socket EOF (always the case; accepted for npiperelay compatibility)' },
    cygwinVariantFlag,
    ...agentModeFlags,
  ],
  positionals: 1,
}

/** `uds-relay [flags] SOCKET` */
export async function main(argv: readonly string[], io: RelayIo): Promise<number> {
  const parsed = parseCli(cli, argv, io)
  if (!parsed.ok) return parsed.code
  const path = parsed.args[0] as string
  let mode: AgentMode
  let cygwinVariant: CygwinVariantChoice
  try {
    mode = parseAgentMode(parsed.flags)
    cygwinVariant = parseCygwinVariant(parsed.flags[cygwinVariantFlag.name])
  } catch (err) {
    return flagValueError(cli, io, err)
  }
  const log = createLog(io.stderr, cli.name, parsed.flags.v === true)
  const connect = () => connectPath(path, { cygwinVariant })
  let socket
  try {
    socket = await dial(connect, {
      poll: parsed.flags.p === true,
      retryable: pathRetryable,
      log,
      what: path,
    })
  } catch (err) {
    const e = err instanceof RelayError ? err : new RelayError(String(err))
    log.error(e.message)
    return e.exitCode
  }
  if (mode.agent) return relayAgentMessages(io, socket, connect, mode, log, `uds-relay ${path}`)
  return pump(io, socket, {
    halfClose: true,
    exitOnStdinEof: parsed.flags.ei === true,
    exitOnChannelEof: parsed.flags.ep === true,
    requestTimeoutMs: mode.requestTimeoutMs,
    log,
  })
}

export const udsRelay: RelayDefinition = {
  name: cli.name,
  summary: 'stdin/stdout <-> a Unix domain socket (ssh-agent, gpg-agent, any socket)',
  main,
}
