import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { now } from '../../bench/measure.js'
import { SocketSink, mibPerSecond, pushThrough, sendThrough } from '../../bench/throughput.js'
import { isolatedLinuxExecutable } from '../../lab/built.js'
import { spawnDaemon, waitFor } from '../fixtures/openssh.js'

// A relay that takes a second to start, as npiperelay under Wine takes hundreds of ms:
// its start-up must stay outside the window its throughput is computed from.
const START_MS = 1000
const TOTAL = 4 << 20
const slowRelay = (exe: string, target: string) => ['-c', `sleep ${START_MS / 1000}; exec "$0" uds-relay "$1"`, exe, target]

t.test('a relay fed on stdin is timed from the sink accepting it, not from its start', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const sink = await SocketSink.listen(path.join(path.dirname(exe), 'sink.sock'), TOTAL)
  t.teardown(() => sink.close())
  const spawnedAt = now()
  const relay = spawn('sh', slowRelay(exe, path.join(path.dirname(exe), 'sink.sock')), { stdio: ['pipe', 'ignore', 'ignore'] })
  const transfer = await pushThrough(relay, TOTAL, sink.next())
  t.ok(transfer.connected - spawnedAt >= START_MS, `the window opens after the start-up (${(transfer.connected - spawnedAt).toFixed(0)} ms after spawn)`)
  t.ok(transfer.done > transfer.connected, 'and closes when the sink has everything')
  t.equal(transfer.bytes, TOTAL, 'every byte arrived')
  t.equal(mibPerSecond(transfer), TOTAL / (1 << 20) / ((transfer.done - transfer.connected) / 1000), 'the rate is over that window')
})

t.test('a client sending through socat + a relay is timed the same way', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const sink = await SocketSink.listen(path.join(dir, 'sink.sock'), TOTAL)
  t.teardown(() => sink.close())
  const front = path.join(dir, 'front.sock')
  const script = path.join(dir, 'slow-relay.sh')
  fs.writeFileSync(script, `#!/bin/sh\nsleep ${START_MS / 1000}\nexec ${exe} uds-relay ${path.join(dir, 'sink.sock')}\n`, { mode: 0o755 })
  spawnDaemon(t, 'socat', [`UNIX-LISTEN:${front},fork`, `EXEC:${script}`])
  await waitFor(() => fs.existsSync(front), 'socat to listen')
  const direct = await sendThrough(path.join(dir, 'sink.sock'), sink)
  const sentAt = now()
  const relayed = await sendThrough(front, sink)
  t.ok(direct.connected < sentAt, 'the direct client: its own transfer')
  t.ok(relayed.connected - sentAt >= START_MS, `through the relay: the window opens once the relay connected (${(relayed.connected - sentAt).toFixed(0)} ms after the client did)`)
  t.equal(relayed.bytes, TOTAL)
})

t.test('a transfer of no duration has no rate', async (t) => {
  t.throws(() => mibPerSecond({ connected: 5, done: 5, bytes: 1 }), /no rate/)
})
