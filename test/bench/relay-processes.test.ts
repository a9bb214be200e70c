import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { type ProcessEntry, readProcessTable, relayProcesses } from '../../bench/relay-processes.js'
import { isolatedLinuxExecutable } from '../../lab/built.js'
import { spawnDaemon, waitFor } from '../fixtures/openssh.js'

const EXE = '/w/dist/relaykit-win-x64.exe'
const WINE = '/usr/lib/wine/wine64'
const socatArgs = ['socat', 'UNIX-LISTEN:/tmp/npr.sock,fork', `EXEC:${WINE} ${EXE} npiperelay -ei -s //./pipe/p`]

/** A process table laid out like the Wine benchmark's, as /proc shows it. */
function benchLikeTable(): ProcessEntry[] {
  const p = (pid: number, ppid: number, argv: string[], rssKiB = 1000): ProcessEntry => ({ pid, ppid, argv, rssKiB })
  return [
    p(100, 1, socatArgs, 4500), // the socat the benchmark started
    ...[0, 1, 2].map((i) => p(110 + i, 100, socatArgs, 2400)), // its per-connection children
    ...[0, 1].map((i) => p(120 + i, 110 + i, [EXE, 'npiperelay', '-ei', '-s', '//./pipe/p'], 120_000)), // EXEC'd relays
    p(122, 112, ['Z:\\w\\dist\\RELAYKIT-WIN-X64.EXE', 'npiperelay'], 120_000), // given a Windows path
    p(200, 1, ['/w/dist/relaykit-linux-x64', 'relay-listen', '/tmp/mux.sock', '--mux', '--', WINE, EXE, 'mux', 'pageant-relay'], 60_000),
    p(201, 200, [EXE, 'mux', 'pageant-relay', '--transport', 'pipe'], 300_000), // the running mux
    p(300, 1, ['/w/dist/relaykit-linux-x64', 'relay-listen', '/tmp/spawn.sock', '--', WINE, EXE, 'npiperelay'], 60_000),
    p(400, 1, [EXE, 'npiperelay', '//./pipe/other'], 120_000), // someone else's test on this machine
  ]
}

t.test('only the relay processes under the root count, not socat, the listeners or strangers', async (t) => {
  const table = benchLikeTable()
  t.same(relayProcesses(table, 100, 'relaykit-win-x64.exe').map((p) => p.pid), [120, 121, 122], 'socat side: the three relays, socat and its children left out')
  t.same(relayProcesses(table, 200, 'relaykit-win-x64.exe').map((p) => p.pid), [201], 'mux side: the mux, not its listener')
  t.same(relayProcesses(table, 300, 'relaykit-win-x64.exe'), [], 'a listener with no connection has no relay')
  const everyMention = table.filter((p) => p.argv.join(' ').includes('relaykit-win-x64.exe')).length
  t.ok(everyMention > 4, `${everyMention} processes mention the exe on this table: matching the command line would count them all`)
})

t.test('read from /proc: relays socat started for three connections, not a copy running beside them', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const target = path.join(dir, 'target.sock')
  const server = net.createServer((c) => c.on('error', () => {}))
  await new Promise<void>((r) => server.listen(target, r))
  t.teardown(() => server.close())
  const front = path.join(dir, 'front.sock')
  const socat = spawnDaemon(t, 'socat', [`UNIX-LISTEN:${front},fork`, `EXEC:${exe} uds-relay ${target}`])
  const stranger = spawnDaemon(t, exe, ['uds-relay', target], { stdio: ['pipe', 'ignore', 'ignore'] })
  // socat's file exists a moment before it listens: each client retries until it is in.
  const connect = async (): Promise<net.Socket> => {
    for (let tries = 0; ; tries++) {
      const c = await new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect(front, () => resolve(s))
        s.once('error', () => resolve(undefined))
      })
      if (c) return c
      if (tries > 100) throw new Error(`socat never listened on ${front}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await waitFor(() => fs.existsSync(front), 'socat to listen')
  const clients = await Promise.all([0, 1, 2].map(connect))
  t.teardown(() => clients.forEach((c) => c.destroy()))
  await waitFor(() => relayProcesses(readProcessTable(), socat.pid!, path.basename(exe)).length >= 3, 'three relays under socat')
  const relays = relayProcesses(readProcessTable(), socat.pid!, path.basename(exe))
  t.equal(relays.length, 3, 'one relay per connection')
  t.notOk(relays.some((p) => p.pid === stranger.pid), 'the same executable outside the tree is not counted')
  t.ok(relays.every((p) => p.argv[0] === exe && p.rssKiB > 0), 'each is the relay, with its resident memory')
})
