/**
 * Windows benchmarks under Wine: relaykit-win-x64.exe (npiperelay and
 * pageant-relay over both transports) against the real Pageant and against a
 * direct Wine client (node.exe talking to the pipe itself), in one run.
 */
import { EventEmitter, once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type LabEnv,
  ensureWineServer,
  runWine,
  spawnWine,
  startPageant,
  uniquePipeName,
  wineEnv,
  winPath,
} from '../lab/winlab.js'
import { SESSION_REQUESTS, connectRequestClose, interleaved, now, perRequest, session, watchPeakRss } from './measure.js'
import { relayListen, socat, stopAll } from './processes.js'
import { readProcessTable, relayProcesses } from './relay-processes.js'
import type { Report } from './results-table.js'
import { type Transfer, mibPerSecond, pushThrough } from './throughput.js'

const here = path.dirname(fileURLToPath(import.meta.url))
// lib/bench/*.js at run time; the .cjs fixtures stay in the source tree.
export const source = (rel: string) => path.resolve(here, '..', '..', rel)
/** A pipe name with forward slashes, the form that survives socat's EXEC string. */
export const forward = (pipe: string) => pipe.replace(/\\/g, '/')

export interface WineOptions {
  exe: string
  /** The Linux executable, for relay-listen. */
  linuxExe: string
  requests: number
  connections: number
  throughputMiB: number
}

async function direct(lab: LabEnv, env: Record<string, string>): Promise<number> {
  const r = await runWine(lab, lab.nodeExe, [winPath(source('bench/fixtures/pipe-client.cjs'))], { env, timeoutMs: 600_000 })
  const v = Number(r.stdout)
  if (r.code !== 0 || !Number.isFinite(v)) throw new Error(`direct client failed: ${r.stdout} ${r.stderr}`)
  return v
}

export async function benchWine(report: Report, lab: LabEnv, o: WineOptions): Promise<void> {
  ensureWineServer(lab)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkw-'))
  const env = wineEnv(lab)
  const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')])
  try {
    const pipe = pageant.pipeName
    const socks = {
      npiperelay: path.join(dir, 'npr.sock'),
      'pageant-relay pipe': path.join(dir, 'pr-pipe.sock'),
      'pageant-relay wmcopydata': path.join(dir, 'pr-wm.sock'),
    }
    const w = `EXEC:${lab.wine64} ${o.exe}`
    const nprSocat = await socat(socks.npiperelay, `${w} npiperelay -ei -s ${forward(pipe)}`, env)
    await socat(socks['pageant-relay pipe'], `${w} pageant-relay --transport pipe`, env)
    await socat(socks['pageant-relay wmcopydata'], `${w} pageant-relay --transport wmcopydata`, env)

    const g1 = `Pageant request, one connection (${o.requests}x, Wine)`
    report.add(g1, 'direct Wine client', await direct(lab, { PIPE: pipe, MODE: 'requests', N: String(o.requests) }), 'ms')
    for (const [name, sock] of Object.entries(socks)) {
      report.add(g1, `socat + ${name}`, await perRequest(sock, o.requests), 'ms', 'direct Wine client')
    }

    const g2 = `connect + request + close to Pageant (${o.connections}x, Wine)`
    report.add(g2, 'direct Wine client (no process start)', await direct(lab, { PIPE: pipe, MODE: 'connects', N: String(o.connections) }), 'ms')
    report.add(g2, 'node.exe started per connection', await nodeExePerConnection(lab, pipe, Math.min(o.connections, 20)), 'ms', 'direct Wine client (no process start)')
    for (const [name, sock] of Object.entries(socks)) {
      report.add(g2, `socat + ${name}`, await connectRequestClose(sock, o.connections), 'ms', 'direct Wine client (no process start)')
    }
    const spawnSock = path.join(dir, 'spawn.sock')
    await relayListen(o.linuxExe, spawnSock, ['--', lab.wine64, o.exe, 'npiperelay', '-ei', '-s', forward(pipe)], env)
    report.add(g2, 'relay-listen spawn mode + npiperelay', await connectRequestClose(spawnSock, o.connections), 'ms', 'direct Wine client (no process start)')
    const muxSock = path.join(dir, 'mux.sock')
    const muxListener = await relayListen(o.linuxExe, muxSock, ['--mux', '--', lab.wine64, o.exe, 'mux', 'pageant-relay', '--transport', 'pipe'], env)
    await connectRequestClose(muxSock, 1) // starts the mux
    report.add(g2, 'relay-listen --mux + pageant-relay pipe', await connectRequestClose(muxSock, o.connections), 'ms', 'direct Wine client (no process start)')
    report.add(g1, 'relay-listen --mux + pageant-relay pipe', await perRequest(muxSock, o.requests), 'ms', 'direct Wine client')

    // The goals' comparisons, each measurement taken in turns with its baseline.
    const per = Math.max(1, Math.round(o.connections / 10))
    const floor = await interleaved(10, {
      node: () => nodeExeLifetime(lab, per),
      npiperelay: () => connectRequestClose(socks.npiperelay, per),
      pipe: () => connectRequestClose(socks['pageant-relay pipe'], per),
      wm: () => connectRequestClose(socks['pageant-relay wmcopydata'], per),
      mux: () => connectRequestClose(muxSock, per),
    })
    const g5 = `a relay process per connection vs node.exe -e 0 (${per * 10}x, Wine)`
    report.add(g5, 'node.exe -e 0 (lifetime)', floor.node, 'ms')
    report.add(g5, 'socat + npiperelay', floor.npiperelay, 'ms', 'node.exe -e 0 (lifetime)')
    report.add(g5, 'socat + pageant-relay pipe', floor.pipe, 'ms', 'socat + npiperelay')
    report.add(g5, 'socat + pageant-relay wmcopydata', floor.wm, 'ms', 'socat + npiperelay')
    report.add(g5, 'relay-listen --mux + pageant-relay pipe', floor.mux, 'ms', 'socat + npiperelay')

    const g4 = 'memory of 16 open connections (Wine, sum of relay processes)'
    report.add(g4, 'socat + npiperelay (16 processes)', await memoryOfOpenConnections(socks.npiperelay, nprSocat.pid!, o.exe, 16), 'MiB')
    report.add(g4, 'relay-listen --mux (1 process)', await memoryOfOpenConnections(muxSock, muxListener.pid!, o.exe, 1), 'MiB', 'socat + npiperelay (16 processes)')

    const total = o.throughputMiB << 20
    const g3 = `one-way throughput into a named pipe (${o.throughputMiB} MiB, Wine)`
    // Both rows timed by the sink, from its accept to the last byte: npiperelay's Wine start-up is not in it.
    const directSink = await pipeSink(lab, total)
    await direct(lab, { PIPE: directSink.pipe, MODE: 'send', TOTAL: String(total) })
    report.add(g3, 'direct Wine client', mibPerSecond(await directSink.transfer), 'MiB/s')
    const relayed = await relayThroughput(lab, o.exe, await pipeSink(lab, total), total)
    report.add(g3, 'npiperelay (Linux stdin -> Wine -> pipe)', relayed.mibs, 'MiB/s', 'direct Wine client')

    const g6 = 'peak RSS (Wine)'
    const idle = wineSpawnPeak(lab, lab.nodeExe, ['-e', 'setTimeout(() => {}, 300)'], undefined)
    report.add(g6, 'node.exe idle 300 ms', await idle, 'MiB')
    report.add(g6, 'npiperelay moving data', relayed.peakMiB, 'MiB', 'node.exe idle 300 ms')
    const small = await relayThroughput(lab, o.exe, await pipeSink(lab, 64 << 20), 64 << 20)
    report.add(g6, 'npiperelay moving 64 MiB', small.peakMiB, 'MiB', 'node.exe idle 300 ms')
    const sessionArgs = ['npiperelay', '-ei', '-s', forward(pipe)]
    report.add(g6, `npiperelay, ${SESSION_REQUESTS}-request session`, await wineSpawnPeak(lab, o.exe, sessionArgs, session()), 'MiB', 'node.exe idle 300 ms')
    const pageantArgs = ['pageant-relay', '--transport', 'pipe']
    report.add(g6, `pageant-relay pipe, ${SESSION_REQUESTS}-request session`, await wineSpawnPeak(lab, o.exe, pageantArgs, session()), 'MiB', 'node.exe idle 300 ms')
  } finally {
    await stopAll()
    await pageant.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Open `n` connections, ask once on each, and sum the resident memory of the
 * relay processes under `root` (socat or the listener), once there are
 * exactly `expected` of them: relays of earlier connections may still be on
 * their way out.
 */
async function memoryOfOpenConnections(socket: string, root: number, exe: string, expected: number, n = 16): Promise<number> {
  const conns = await Promise.all(Array.from({ length: n }, () => openAndAsk(socket)))
  try {
    const deadline = Date.now() + 15_000
    for (;;) {
      const relays = relayProcesses(readProcessTable(), root, path.basename(exe))
      if (relays.length === expected) return relays.reduce((kib, p) => kib + p.rssKiB, 0) / 1024
      if (Date.now() > deadline) throw new Error(`${relays.length} relay processes under pid ${root}, expected ${expected}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  } finally {
    conns.forEach((c) => c.destroy())
  }
}

function openAndAsk(socket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket, () => c.write(Buffer.from([0, 0, 0, 1, 11])))
    c.once('data', () => resolve(c))
    c.once('error', reject)
  })
}

/** bench/fixtures/pipe-sink.cjs under Wine, swallowing `total` bytes per connection: its pipe name and its first full transfer. */
async function pipeSink(lab: LabEnv, total: number): Promise<{ pipe: string; transfer: Promise<Transfer> }> {
  const pipe = uniquePipeName('bench')
  const child = spawnWine(lab, lab.nodeExe, [winPath(source('bench/fixtures/pipe-sink.cjs'))], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { PIPE: pipe, TOTAL: String(total) },
  })
  const lines: string[] = []
  const said = new EventEmitter()
  let partial = ''
  child.stdout?.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
    said.emit('lines')
  })
  const exited = once(child, 'exit').then(() => {
    throw new Error(`pipe sink exited; it said: ${lines.join(' | ')}`)
  })
  exited.catch(() => {}) // only a failure while someone waits for a line
  const waitFor = async (match: (line: string) => boolean): Promise<string> => {
    for (;;) {
      const found = lines.find(match)
      if (found !== undefined) return found
      await Promise.race([once(said, 'lines'), exited])
    }
  }
  await waitFor((l) => l === 'ready')
  const transfer = waitFor((l) => l.startsWith('{')).then((l) => {
    const t = JSON.parse(l) as Partial<Transfer> & { short?: number }
    if (t.short !== undefined) throw new Error(`the pipe sink got ${t.short} of ${total} bytes before the connection closed`)
    child.kill()
    return t as Transfer
  })
  transfer.catch(() => {}) // awaited by the caller; not an unhandled rejection meanwhile
  return { pipe, transfer }
}

async function relayThroughput(lab: LabEnv, exe: string, sink: { pipe: string; transfer: Promise<Transfer> }, total: number): Promise<{ mibs: number; peakMiB: number }> {
  const child = spawnWine(lab, exe, ['npiperelay', forward(sink.pipe)], { stdio: ['pipe', 'ignore', 'ignore'] })
  const stop = watchPeakRss(child.pid!)
  const transfer = await pushThrough(child, total, sink.transfer)
  return { mibs: mibPerSecond(transfer), peakMiB: stop() }
}

/** Peak memory of a Windows program under Wine, fed `input` on stdin (then EOF). */
async function wineSpawnPeak(lab: LabEnv, exe: string, args: string[], input: Buffer | undefined): Promise<number> {
  const child = spawnWine(lab, exe, args, { stdio: ['pipe', 'ignore', 'ignore'] })
  const stop = watchPeakRss(child.pid!)
  child.stdin?.on('error', () => {})
  child.stdin?.end(input)
  await once(child, 'exit')
  return stop()
}

/** Median ms of `n` runs of `node.exe -e 0` under Wine: the least a Node process costs there. */
async function nodeExeLifetime(lab: LabEnv, n: number): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = now()
    const child = spawnWine(lab, lab.nodeExe, ['-e', '0'], { stdio: 'ignore' })
    await once(child, 'exit')
    times.push(now() - t0)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] ?? NaN
}

/** What a relay written as a plain Node script costs per connection: node.exe start + connect + request. */
async function nodeExePerConnection(lab: LabEnv, pipe: string, n: number): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = now()
    await direct(lab, { PIPE: pipe, MODE: 'connects', N: '1' })
    times.push(now() - t0)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] ?? NaN
}
