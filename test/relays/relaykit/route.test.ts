import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { allRelays, findRelay } from '../../../relays/index.js'
import { ALL_PART, RELAYS_IN_ALL, SEPARATE_PARTS, relayKey, route } from '../../../relays/relaykit/route.js'
import { repoRoot } from '../../../lab/built.js'

const part = (p: string, invoked: string, args: string[]) => ({ kind: 'part', part: p, invoked, args })

t.test('a link named after a relay runs it with every argument', async (t) => {
  t.same(route('NPIPERELAY.EXE', ['-ei', '//./pipe/x']), part('npiperelay', 'NPIPERELAY.EXE', ['-ei', '//./pipe/x']))
  t.same(route('uds-relay', ['--version']), part('uds-relay', 'uds-relay', ['--version']), "the relay's own --version")
  t.same(route('relay-listen.exe', ['--version']), part(ALL_PART, 'relay-listen.exe', ['--version']), 'relay-listen lives in the part all')
})

t.test('relaykit RELAY runs RELAY with the rest; the rest goes to the part all', async (t) => {
  t.same(route('relaykit-linux-x64', ['pageant-relay', '-v']), part('pageant-relay', 'relaykit-linux-x64', ['-v']))
  t.same(route('relaykit.exe', ['Doctor.exe']), part('doctor', 'relaykit.exe', []))
  t.same(route('relaykit', ['mux', 'uds-relay', 'x']), part(ALL_PART, 'relaykit', ['mux', 'uds-relay', 'x']))
  for (const args of [[], ['--help'], ['link', 'dir'], ['teleport']]) t.same(route('relaykit', args), part(ALL_PART, 'relaykit', args), args.join(' '))
  for (const v of ['--version', '-version', 'version']) t.same(route('relaykit', [v]), { kind: 'version' }, v)
})

t.test('the routes name every relay, and every part has its file', async (t) => {
  const routed = [...SEPARATE_PARTS, ...RELAYS_IN_ALL].sort()
  t.same(routed, allRelays().map((r) => r.name).sort(), 'every relay is routed somewhere, and nothing else')
  for (const name of ['uds-relay', 'UDS-RELAY.exe', 'npiperelay.js', 'x']) t.equal(findRelay(name)?.name, findRelay(relayKey(name))?.name, `${name}: the same key as findRelay`)
  const files = fs.readdirSync(path.join(repoRoot, 'relays', 'relaykit', 'parts')).map((f) => f.replace(/\.ts$/, ''))
  t.same(files.sort(), [...SEPARATE_PARTS, ALL_PART].sort())
})
