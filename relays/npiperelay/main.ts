import type { Duplex } from 'node:stream'
import { type AgentMode, agentModeFlags, parseAgentMode, relayAgentMessages } from '../../shared/agent/mode.js'
import { flagValueError, parseCli, type CliSpec } from '../../shared/cli.js'
import { dial } from '../../shared/channels/dial.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { createLog } from '../../shared/log.js'
import { pump } from '../../shared/pump.js'
import type { RelayDefinition, RelayIo } from '../../shared/relay.js'
import { RelayError, messageOf } from '../../shared/relay-error.js'
import { connectPipe, describePipeError, pipeRetryable } from '../../shared/channels/named-pipe/client.js'

export const cli: CliSpec = {
  name: 'npiperelay',
  synopsis: '[flags] PIPE   (or -a SOCKETFILE)',
  description: [
    'Relays stdin/stdout to the Windows named pipe PIPE (\\\\.\\pipe\\name or //./pipe/name).',
    'A drop-in for npiperelay.exe: same flags, same exit codes. Unlike it, a busy pipe is',
    'waited for instead of failing, an answer still in flight at stdin EOF is delivered',
    'before -ei exits, and without -ei/-ep the relay does not stay behind forever after',
    'its client left. With --agent (or -compat/-deny) it relays SSH agent messages one',
    'by one (then -ei, -ep and -s do not apply: each answer is delivered, and a pipe the',
    'agent closed is reopened for the next request).',
  ].join('\n'),
  flags: [
    { name: 'p', type: 'boolean', help: 'poll every 200 ms until the pipe exists and is not busy' },
    { name: 's', type: 'boolean', help: 'send a 0-byte message to the pipe after EOF on stdin' },
    { name: 'ep', type: 'boolean', help: 'terminate on EOF reading from the pipe, even if there is more data to write' },
    { name: 'ei', type: 'boolean', help: 'terminate on EOF reading from stdin (after delivering an answer in flight)' },
    { name: 'bg', type: 'boolean', help: 'hide the console window and run in the background' },
    { name: 'a', type: 'boolean', help: 'the argument is a libassuan socket file (gpg-agent): connect to its TCP port and send its nonce' },
    ...agentModeFlags,
  ],
  positionals: 1,
  wrongArgsCode: ExitCode.ERROR,
}

/** `npiperelay [flags] PIPE` */
export async function main(argv: readonly string[], io: RelayIo): Promise<number> {
  const parsed = parseCli(cli, argv, io)
  if (!parsed.ok) return parsed.code
  const { flags } = parsed
  const target = parsed.args[0] as string
  let mode: AgentMode
  try {
    mode = parseAgentMode(flags)
  } catch (err) {
    return flagValueError(cli, io, err)
  }
  const log = createLog(io.stderr, cli.name, flags.v === true)

  if (flags.bg) {
    const why = await hideConsole()
    if (why) log.error(`hide console window to run in background failed: ${why}`)
  }

  // Start reading stdin now: opening a pipe loads koffi for its owner check
  // (tens of ms under Wine, on this thread), and the request a client sends
  // at once is then read meanwhile, by the thread pool, instead of after.
  // Nothing is lost: it waits in the stream's buffer for the pump.
  io.stdin.read(0)
  log.debug(`connecting to ${target}`)
  // Loaded only for -a: a pipe relay does not evaluate the libassuan client.
  const assuan = flags.a ? await import('../../shared/channels/assuan/client.js') : undefined
  const connect = assuan ? () => assuan.connectAssuan(target) : () => connectPipe(target)
  let channel: Duplex
  try {
    channel = await dial(connect, { poll: flags.p === true, retryable: assuan ? assuan.assuanRetryable : pipeRetryable, log, what: target })
  } catch (err) {
    const e = err instanceof RelayError ? err : describePipeError(target, err)
    log.error(e.message)
    // npiperelay.exe exits 1 on every failure; scripts test for it.
    return ExitCode.ERROR
  }

  if (mode.agent) return relayAgentMessages(io, channel, connect, mode, log, `npiperelay ${flags.a ? '-a ' : ''}${target}`)
  return pump(io, channel, {
    halfClose: false,
    requestTimeoutMs: mode.requestTimeoutMs,
    exitOnStdinEof: flags.ei === true,
    exitOnChannelEof: flags.ep === true,
    onStdinEnd: flags.s
      ? (pipe) => {
          // A zero-byte write on a message pipe says that no more data is coming.
          pipe.write(Buffer.alloc(0))
          log.debug('sent the 0-byte message')
        }
      : undefined,
    log,
  })
}

async function hideConsole(): Promise<string | undefined> {
  if (process.platform !== 'win32') return 'not on Windows'
  try {
    const { hideConsoleWindow } = await import('../../shared/win32/console.js')
    return await hideConsoleWindow()
  } catch (err) {
    return messageOf(err)
  }
}

export const npiperelay: RelayDefinition = {
  name: cli.name,
  summary: 'stdin/stdout <-> a Windows named pipe or libassuan socket file; drop-in for npiperelay.exe',
  main,
}
