import t from 'tap'
import { findRelay } from '../../../relays/index.js'
import { connectionHandler } from '../../../shared/listen/connection-handler.js'

t.test('which commands run in-process', async (t) => {
  const ctx = { log: { verbose: false, error: () => {}, debug: () => {} }, stderr: process.stderr, env: {} }
  const mode = (cmd: string[], spawn = false) => connectionHandler(cmd, spawn, findRelay, ctx).mode
  t.equal(mode(['uds-relay', '/s']), 'in-process')
  t.equal(mode(['/opt/relaykit', 'uds-relay', '/s']), 'in-process')
  t.equal(mode(['./relaykit-linux-x64', 'npiperelay', '//./pipe/x']), 'in-process')
  t.equal(mode(['/mnt/c/tools/relaykit.exe', 'pageant-relay']), 'spawn', 'a Windows .exe seen from Linux is spawned')
  t.equal(mode(['/mnt/c/tools/npiperelay.exe', '-ei', '//./pipe/x']), 'spawn')
  t.equal(mode(['socat', '-', 'UNIX-CONNECT:/s']), 'spawn')
  t.equal(mode(['relaykit', 'relay-listen', '/s', '--', 'cat']), 'spawn', 'a listener per connection is not run in-process')
  t.equal(mode(['uds-relay', '/s'], true), 'spawn', '--spawn forces it')
  t.equal(mode(['uds-relay', '/s'], false), 'in-process')
})
