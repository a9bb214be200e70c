/**
 * `--pageant` and its flags on relay-listen's command line (pageant-flags.ts):
 * no SOCKET with it, a SOCKET without it, its flags only with it.
 */
import t from 'tap'
import { listenAddress } from '../../../relays/relay-listen/pageant-flags.js'
import { FlagError } from '../../../shared/go-flags.js'

const CMD = ['npiperelay', '//./pipe/openssh-ssh-agent']

t.test('--pageant: both doors by default, flags carried, RELAY shown as upstream', async (t) => {
  t.same(listenAddress({ pageant: true }, [], CMD), {
    address: 'Pageant',
    pageant: { pipe: true, window: true, timeoutMs: 60_000, upstream: 'npiperelay //./pipe/openssh-ssh-agent' },
  })
  const o = listenAddress({ pageant: true, 'no-pipe': true, 'request-timeout': '2.5', 'openssh-config': 'C:/x.conf' }, [], CMD).pageant
  t.same([o?.pipe, o?.window, o?.timeoutMs, o?.opensshConfig], [false, true, 2500, 'C:/x.conf'])
  t.equal(listenAddress({ pageant: true, 'no-window': true }, [], CMD).pageant?.window, false)
})

t.test('usage errors', async (t) => {
  const fails = (flags: Record<string, boolean | string>, args: string[], message: RegExp) => t.throws(() => listenAddress(flags, args, CMD), { constructor: FlagError, message })
  fails({ pageant: true }, ['/tmp/s.sock'], /--pageant takes no SOCKET \(got \/tmp\/s\.sock\)/)
  fails({ pageant: true, 'no-pipe': true, 'no-window': true }, [], /leave nothing to serve/)
  fails({ pageant: true, 'request-timeout': '0' }, [], /request-timeout/)
  fails({ pageant: false, 'no-pipe': true }, ['/tmp/s.sock'], /--no-pipe goes with --pageant/)
  fails({ 'openssh-config': 'f' }, ['/tmp/s.sock'], /--openssh-config goes with --pageant/)
  fails({}, [], /no SOCKET to listen on/)
  t.same(listenAddress({ pageant: false, 'no-pipe': false }, ['/tmp/s.sock'], CMD), { address: '/tmp/s.sock' }, 'unset booleans are not "given"')
})
