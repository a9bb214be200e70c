/**
 * The chores every main does the same way: a bad flag value is a usage
 * error (exit 2) on stderr naming the flag, the value and where help is; a
 * log file that cannot be opened is an I/O failure (exit 1) naming the path.
 */
import t from 'tap'
import { findRelay } from '../../relays/index.js'
import { parseChoice, parseCount, parseSeconds } from '../../shared/cli.js'
import { FlagError } from '../../shared/go-flags.js'
import { memoryIo } from '../fixtures/memory-io.js'

async function runRelay(name: string, argv: string[]) {
  const m = memoryIo()
  m.stdin.end()
  const code = await findRelay(name)!.main(argv, m.io)
  return { code, stdout: m.stdout().toString(), stderr: m.stderr() }
}

const badValues: [string, string[], RegExp][] = [
  ['pageant-relay', ['--transport', 'carrier-pigeon'], /^pageant-relay: -transport: "carrier-pigeon" is not one of auto, pipe, wmcopydata \(see pageant-relay -h\)\n$/],
  ['pageant-relay', ['--timeout', '0'], /^pageant-relay: -timeout: "0" is not a number of seconds greater than 0 \(see pageant-relay -h\)\n$/],
  ['doctor', ['--timeout', 'soon'], /^doctor: -timeout: "soon" is not a number of seconds greater than 0 \(see doctor -h\)\n$/],
  ['relay-listen', ['--max-connections', 'many', '/tmp/s', '--', 'cat'], /^relay-listen: -max-connections: "many" is not a whole number of at least 1 \(see relay-listen -h\)\n$/],
  ['uds-relay', ['--request-timeout', '-1', '/tmp/s'], /^uds-relay: -request-timeout: "-1" is not a number of seconds greater than 0 \(see uds-relay -h\)\n$/],
  ['npiperelay', ['-deny', 'nosuch', '//./pipe/x'], /^npiperelay: -deny: unknown request type "nosuch" .* \(see npiperelay -h\)\n$/],
]

for (const [relay, argv, message] of badValues) {
  t.test(`${relay} ${argv.join(' ')}: usage error`, async (t) => {
    const r = await runRelay(relay, argv)
    t.equal(r.code, 2, 'exit 2')
    t.match(r.stderr, message, 'one line naming the flag, the value and the help')
    t.equal(r.stdout, '', 'nothing on stdout')
  })
}

for (const relay of ['pageant-relay', 'relay-listen']) {
  t.test(`${relay}: a log file that cannot be opened is exit 1, naming the path`, async (t) => {
    const argv = relay === 'relay-listen' ? ['--logfile', '/nonexistent/dir/log', '/tmp/s', '--', 'cat'] : ['--logfile', '/nonexistent/dir/log']
    const r = await runRelay(relay, argv)
    t.equal(r.code, 1)
    t.match(r.stderr, /cannot open the log file \/nonexistent\/dir\/log: ENOENT/)
  })
}

t.test('the flag value parsers', async (t) => {
  t.equal(parseSeconds('2.5', 'x'), 2.5)
  t.throws(() => parseSeconds(true, 'x'), FlagError)
  t.equal(parseCount(' 7 ', 'x'), 7)
  for (const bad of ['0', '1.5', '2x', '', '-3']) t.throws(() => parseCount(bad, 'x'), FlagError, bad)
  t.equal(parseChoice('pipe', 'x', ['auto', 'pipe'] as const), 'pipe')
  t.throws(() => parseChoice('PIPE', 'x', ['auto', 'pipe'] as const), FlagError)
})
