import { ExitCode, exitCodeTable } from '../../shared/exit-codes.js'
import type { RelayIo } from '../../shared/relay.js'
import { RelayError, messageOf } from '../../shared/relay-error.js'
import { VERSION } from '../../shared/version.js'
import { allRelays, findRelay } from '../index.js'
import { linkRelays } from './link.js'

export { invokedName } from './invoked-name.js'

/**
 * The `relaykit` executable: one Node runtime, every relay. It runs the
 * relay named by the file it was started as (`npiperelay.exe`, a hard link
 * made by `relaykit link`), or by its first argument.
 */

export function helpText(): string {
  const width = Math.max(...allRelays().map((r) => r.name.length))
  return [
    `relaykit ${VERSION}: tiny relays between stdin/stdout and SSH agent channels`,
    '',
    'Usage:',
    '  relaykit RELAY [flags] ARGS    run one relay (RELAY --help for its flags)',
    '  relaykit link DIR             give this executable every relay name in DIR',
    '  relaykit --version',
    '',
    'A copy or link of this executable named after a relay (npiperelay.exe,',
    'uds-relay …) runs that relay directly.',
    '',
    'Relays:',
    ...allRelays().map((r) => `  ${r.name.padEnd(width)}  ${r.summary}`),
    '',
    'Exit codes:',
    exitCodeTable(),
    '',
  ].join('\n')
}

/** Dispatch; `name` is {@link invokedName}, `args` what follows the program. */
export async function dispatch(
  name: string,
  args: readonly string[],
  io: RelayIo,
  self: { executable: string; sea: boolean },
): Promise<number> {
  const direct = findRelay(name)
  if (direct) return direct.main(args, io)

  const [command, ...rest] = args
  switch (command) {
    case undefined:
      // A usage error: the help goes where errors go.
      io.stderr.write(helpText())
      return ExitCode.USAGE
    case 'help':
    case '-h':
    case '--help':
    case '-help':
      io.stdout.write(helpText())
      return ExitCode.OK
    case '--version':
    case '-version':
    case 'version':
      io.stdout.write(`relaykit ${VERSION}\n`)
      return ExitCode.OK
    case 'link':
      return link(rest, io, self)
  }
  const relay = findRelay(command)
  if (relay) return relay.main(rest, io)
  io.stderr.write(`relaykit: unknown relay or command "${command}"; relaykit --help lists them\n`)
  return ExitCode.USAGE
}

function link(args: readonly string[], io: RelayIo, self: { executable: string; sea: boolean }): number {
  if (args.length !== 1) {
    io.stderr.write('Usage: relaykit link DIR\n')
    return ExitCode.USAGE
  }
  if (!self.sea) {
    io.stderr.write('relaykit link: run it from the standalone relaykit executable (npm run build makes dist/relaykit-*); under node the relays are already on PATH as npm bin entries\n')
    return ExitCode.USAGE
  }
  try {
    for (const r of linkRelays(self.executable, args[0] as string, allRelays().filter((x) => x.linked !== false).map((x) => x.name))) {
      io.stderr.write(`${r.how} ${r.name}\n`)
    }
    return ExitCode.OK
  } catch (err) {
    io.stderr.write(`relaykit link: ${messageOf(err)}\n`)
    return err instanceof RelayError ? err.exitCode : ExitCode.ERROR
  }
}
