import t from 'tap'
import { selfCommand } from '../../../shared/listen/background.js'

t.test('selfCommand: the relay name is added unless the program was started under it', async (t) => {
  const node = process.execPath
  t.same(selfCommand('relay-listen', [node, '/x/lib/relays/relaykit/bin.js'], false), [node, '/x/lib/relays/relaykit/bin.js', 'relay-listen'])
  t.same(selfCommand('relay-listen', [node, '/x/lib/relays/relay-listen/bin.js'], false), [node, '/x/lib/relays/relay-listen/bin.js'])
  t.same(selfCommand('relay-listen', [node, '/usr/local/bin/relay-listen'], false), [node, '/usr/local/bin/relay-listen'], 'npm bin link')
  t.same(selfCommand('relay-listen', [node, '/usr/local/bin/relaykit'], false), [node, '/usr/local/bin/relaykit', 'relay-listen'])
  t.same(selfCommand('relay-listen', [node, 'C:\\tools\\Relay-Listen.js'], false), [node, 'C:\\tools\\Relay-Listen.js'], 'Windows path, any case')
  // A single executable is named by its own path, whatever argv says.
  t.same(selfCommand('relay-listen', ['x', 'y'], true), /relay-listen(\.exe)?$/i.test(node) ? [node] : [node, 'relay-listen'])
})
