import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { linkRelays } from '../../../relays/relaykit/link.js'
import { dispatch, helpText, invokedName } from '../../../relays/relaykit/main.js'
import { allRelays } from '../../../relays/index.js'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { memoryIo } from '../../fixtures/memory-io.js'
import { run } from '../../fixtures/openssh.js'

const self = { executable: '/usr/bin/node', sea: false }

t.test('the name the program runs under picks the relay', async (t) => {
  t.equal(invokedName(['node', '/x/lib/relays/relaykit/bin.js'], '/usr/bin/node', false), 'bin.js')
  t.equal(invokedName(['C:\\tools\\npiperelay.exe', 'C:\\tools\\npiperelay.exe'], 'C:\\tools\\npiperelay.exe', true), 'npiperelay.exe')
  const m = memoryIo()
  t.equal(await dispatch('NPIPERELAY.EXE', [], m.io, self), 1, 'runs npiperelay (case-insensitive, .exe ignored): usage exit 1')
  t.match(m.stderr(), /Usage: npiperelay/)
})

t.test('help, version, unknown commands', async (t) => {
  const h = memoryIo()
  t.equal(await dispatch('relaykit', ['--help'], h.io, self), 0)
  for (const r of allRelays()) t.match(h.stdout().toString(), r.name)
  t.match(h.stdout().toString(), /Exit codes:/)
  t.equal(helpText(), h.stdout().toString())
  const v = memoryIo()
  t.equal(await dispatch('relaykit', ['--version'], v.io, self), 0)
  t.match(v.stdout().toString(), /^relaykit \d+\.\d+\.\d+\n$/)
  const u = memoryIo()
  t.equal(await dispatch('relaykit', ['teleport'], u.io, self), 2)
  t.match(u.stderr(), /unknown relay or command "teleport"/)
  const none = memoryIo()
  t.equal(await dispatch('relaykit', [], none.io, self), 2, 'no command: help and exit 2')
  t.equal(none.stderr(), helpText(), 'a usage error: the help on stderr')
  t.equal(none.stdout().length, 0)
})

t.test('link refuses to run from plain node', async (t) => {
  const m = memoryIo()
  t.equal(await dispatch('relaykit', ['link', '/tmp/x'], m.io, self), 2)
  t.match(m.stderr(), /run it from the standalone relaykit executable/)
})

t.test('linkRelays: hard links, kept when already linked, replaced when stale', async (t) => {
  const dir = t.testdir({ 'relaykit.exe': 'binary', out: { 'npiperelay.exe': 'old npiperelay' } })
  const exe = path.join(dir, 'relaykit.exe')
  const out = path.join(dir, 'out')
  const first = linkRelays(exe, out, ['npiperelay', 'uds-relay'])
  t.same(first.map((r) => [path.basename(r.name), r.how]), [['npiperelay.exe', 'linked'], ['uds-relay.exe', 'linked']])
  t.equal(fs.readFileSync(path.join(out, 'npiperelay.exe'), 'utf8'), 'binary', 'the stale file was replaced')
  t.equal(fs.statSync(path.join(out, 'uds-relay.exe')).ino, fs.statSync(exe).ino)
  const again = linkRelays(exe, out, ['npiperelay'])
  t.equal(again[0]?.how, 'kept')
})

t.test('the built executable: link DIR, then each name runs its relay', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.join(path.dirname(exe), 'bin')
  const linked = await run(exe, ['link', dir])
  t.notMatch(linked.stderr, 'doctor', 'doctor is a command, not a relay: no file of that name')
  t.notMatch(linked.stderr, /\bmux\b/, 'mux is started only by relay-listen --mux, as relaykit mux: no file of that name')
  t.notOk(fs.existsSync(path.join(dir, 'mux')), 'no mux on PATH')
  t.notOk(fs.existsSync(path.join(dir, 'doctor')))
  for (const r of allRelays().filter((x) => x.linked !== false)) {
    t.match(linked.stderr, `linked ${path.join(dir, r.name)}`)
    const help = await run(path.join(dir, r.name), ['-h'])
    t.match(help.stdout, `Usage: ${r.name}`, `${r.name} answers to its name`)
    t.equal(help.stderr, '', 'asked-for help goes to stdout')
  }
  t.match((await run(exe, ['--version'])).stdout, /^relaykit \d/)
})
