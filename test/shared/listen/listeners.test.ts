/**
 * The listener contract, held by every address kind that runs on Linux
 * (Unix socket, Cygwin socket file): listen, "already served" as a value
 * saying by whom, isLive as the kind's own clients see it, a stale address
 * replaced, and close() resolving only once the address is gone. The
 * Windows kinds are held to the same contract under Wine
 * (test/relays/relay-listen/wine.test.ts).
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import t from 'tap'
import { connectCygwin } from '../../../shared/channels/cygwin/client.js'
import { formatCygwinSocketFile } from '../../../shared/channels/cygwin/format.js'
import { cygwinListener } from '../../../shared/channels/cygwin/server.js'
import { unixListener } from '../../../shared/channels/unix/server.js'
import type { ListenerKind } from '../../../shared/listen/listener.js'
import { createLog } from '../../../shared/log.js'
import { shortTempDir } from '../../../lab/temp-dir.js'

const quiet = createLog(new (class extends (await import('node:stream')).Writable {
  override _write(_c: unknown, _e: unknown, cb: () => void) {
    cb()
  }
})(), 'test', true)

interface Kind {
  kind: ListenerKind
  connect(address: string): Promise<Duplex>
  /** Leave a file at `address` such as a listener that died leaves. */
  makeStale(address: string): void
  servedBy: RegExp
}

const kinds: Record<string, Kind> = {
  unix: {
    kind: unixListener,
    connect: (address) =>
      new Promise((resolve, reject) => {
        const s = net.connect(address, () => resolve(s))
        s.once('error', reject)
      }),
    makeStale(address) {
      // A socket bound by a process that is gone: Python does not unlink at exit.
      const r = spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(address)})`])
      if (r.status !== 0) throw new Error(`python3 could not make a stale socket: ${r.stderr}`)
    },
    servedBy: /^a listener of this user$/,
  },
  cygwin: {
    kind: cygwinListener,
    connect: (address) => connectCygwin(address, { variant: 'cygwin' }),
    makeStale: (address) => fs.writeFileSync(address, formatCygwinSocketFile(1, randomBytes(16))), // port 1: nobody there
    servedBy: /^the server on 127\.0\.0\.1 port \d+$/,
  },
}

for (const [name, k] of Object.entries(kinds)) {
  t.test(`${name}: listen, served, live, close`, async (t) => {
    const address = path.join(shortTempDir(t), 'new', 'agent.sock')
    t.equal(await k.kind.isLive(address), false, 'nothing there: not live')
    const connections: Duplex[] = []
    const outcome = await k.kind.listen(address, (c) => connections.push(c), { log: quiet })
    if (outcome.alreadyServed) throw new Error('expected to listen')
    t.teardown(() => outcome.close())
    t.equal(fs.statSync(path.dirname(address)).mode & 0o777, 0o700, 'the directory it created is private')
    t.equal(fs.statSync(address).mode & 0o777, 0o600, 'the address is private')
    t.equal(await k.kind.isLive(address), true, 'live while listening')

    const client = await k.connect(address)
    client.write('ping')
    await t.resolves(waitUntil(() => connections.length >= 1 + (name === 'unix' ? 1 : 0)), 'the connection reached the callback')
    const served = connections[connections.length - 1] as Duplex
    served.resume()
    const got = await new Promise<string>((resolve) => served.once('data', (d: Buffer) => resolve(d.toString())))
    t.equal(got, 'ping', 'the stream starts at the first byte the client sent')
    client.destroy()

    const again = await k.kind.listen(address, () => t.fail('a second listener got a connection'), { log: quiet })
    t.equal(again.alreadyServed, true, 'a second listen reports the address as served')
    if (again.alreadyServed) t.match(again.by, k.servedBy, 'and says by whom')

    await outcome.close()
    t.notOk(fs.existsSync(address), 'close() resolves with the address gone')
    t.equal(await k.kind.isLive(address), false, 'not live after close')
  })

  t.test(`${name}: a stale address is replaced, anything else refused`, async (t) => {
    const dir = shortTempDir(t)
    const address = path.join(dir, 'agent.sock')
    k.makeStale(address)
    t.equal(await k.kind.isLive(address), false, 'stale: not live')
    const outcome = await k.kind.listen(address, (c) => c.destroy(), { log: quiet })
    t.equal(outcome.alreadyServed, false, 'stale address taken over')
    if (!outcome.alreadyServed) await outcome.close()

    fs.writeFileSync(address, 'precious data')
    await t.rejects(k.kind.listen(address, (c) => c.destroy(), { log: quiet }), { message: /refusing to replace it/ })
    t.equal(fs.readFileSync(address, 'latin1'), 'precious data', 'a file that is not ours is left alone')
  })
}

async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}
