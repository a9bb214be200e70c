import { markSharedProcess } from '../../shared/agent/process-scope.js'
import { parseCli, type CliSpec } from '../../shared/cli.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { createLog } from '../../shared/log.js'
import { MuxSession } from '../../shared/mux/mux-session.js'
import type { FindRelay, RelayDefinition, RelayIo } from '../../shared/relay.js'
import { messageOf } from '../../shared/relay-error.js'

export const cli: CliSpec = {
  name: 'mux',
  synopsis: '[flags] RELAY [RELAY FLAGS...] [ARGS...]',
  description: [
    'Runs RELAY once per stream, all streams multiplexed over this one process\'s',
    'stdin/stdout (started by `relay-listen --mux`), so no process is started per',
    'connection:  relay-listen ~/.ssh/agent.sock --mux -- relaykit.exe mux pageant-relay',
    'Exits 0 when stdin ends (the listener went away), 5 if the mux stream is garbled.',
  ].join('\n'),
  flags: [],
  positionals: { min: 1 },
}

/** `relaykit mux RELAY ARGS…` */
export async function main(argv: readonly string[], io: RelayIo, findRelay: FindRelay): Promise<number> {
  // Flags after RELAY belong to it: parse only what comes before.
  const at = argv.findIndex((a) => !a.startsWith('-'))
  const parsed = parseCli(cli, at < 0 ? argv : argv.slice(0, at + 1), io)
  if (!parsed.ok) return parsed.code
  const log = createLog(io.stderr, cli.name, parsed.flags.v === true)
  const name = parsed.args[0] as string
  const relay = findRelay(name)
  if (!relay || relay.name === cli.name || relay.name === 'relay-listen') {
    log.error(`"${name}" is not a relay mux can run; relaykit --help lists them`)
    return ExitCode.USAGE
  }
  const args = argv.slice(at + 1)
  markSharedProcess() // state an agent keeps across connections lives here (emulation.ts)
  const session = new MuxSession(io.stdin, io.stdout, { log, sayHello: true })
  session.on('stream', (stream) => {
    log.debug(`stream ${stream.id}: ${relay.name} starts`)
    relay.main(args, { stdin: stream, stdout: stream, stderr: io.stderr, env: io.env }).then(
      (code) => {
        log.debug(`stream ${stream.id}: ${relay.name} ended with ${code}`)
        stream.finish(code)
      },
      (err: unknown) => {
        log.error(`stream ${stream.id}: ${relay.name} failed: ${messageOf(err)}`)
        stream.destroy(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
  return new Promise((resolve) => {
    session.once('close', (err?: Error) => resolve(err ? ExitCode.PROTOCOL : ExitCode.OK))
  })
}

export function muxRelay(findRelay: FindRelay): RelayDefinition {
  return {
    name: cli.name,
    summary: 'run a relay per stream over one long-lived process (for relay-listen --mux)',
    main: (argv, io) => main(argv, io, findRelay),
    // Only relay-listen --mux starts it, as `relaykit mux ...`: no link of that name on PATH.
    linked: false,
  }
}
