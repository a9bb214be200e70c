/**
 * Linux benchmarks: the built relaykit-linux-x64 (uds-relay) against
 * ssh-agent, socat alone and bare Node, all in one run.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NodeRuntimes, buildCacheDir } from '../build/node-runtimes.js'
import { TARGETS } from '../build/targets.js'
import { fileURLToPath } from 'node:url'
import { SESSION_REQUESTS, cleanEnv, connectRequestClose, interleaved, laidOutCopy, medianOf, perRequest, runMs, session, watchPeakRss } from './measure.js'
import { relayListen, socat, sshAgent, stopAll } from './processes.js'
import type { Report } from './results-table.js'
import { SocketSink, mibPerSecond, sendThrough } from './throughput.js'

// lib/bench/*.js at run time; the fixtures stay in the source tree.
const minimalRelay = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'fixtures', 'minimal-relay.cjs')

export interface LinuxOptions {
  exe: string
  requests: number
  connections: number
  throughputMiB: number
  startups: number
}

export async function benchLinux(report: Report, options: LinuxOptions): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkb-'))
  const env = cleanEnv()
  try {
    const node22 = laidOutCopy(await new NodeRuntimes(buildCacheDir()).binary(TARGETS.get('linux-x64')!), dir, 'node')
    const o = { ...options, exe: laidOutCopy(options.exe, dir, 'relaykit') }
    // Taken in turns, 5 at a time: the machine's load falls on all alike.
    const starts = await interleaved(o.startups, {
      node: () => medianOf(5, () => runMs(node22, ['-e', '0'], env)),
      relaykit: () => medianOf(5, () => runMs(o.exe, ['--version'], env)),
      relay: () => medianOf(5, () => runMs(o.exe, ['uds-relay', '--version'], env)),
    })
    const g0 = 'startup (Linux)'
    report.add(g0, 'node -e 0 (22.23.2)', starts.node, 'ms')
    report.add(g0, 'relaykit --version', starts.relaykit, 'ms', 'node -e 0 (22.23.2)')
    report.add(g0, 'relaykit uds-relay --version', starts.relay, 'ms', 'node -e 0 (22.23.2)')

    const agent = await sshAgent(dir)
    const viaRelay = path.join(dir, 'relay.sock')
    const viaSocat = path.join(dir, 'socat.sock')
    await socat(viaRelay, `EXEC:${o.exe} uds-relay ${agent}`, env)
    await socat(viaSocat, `UNIX-CONNECT:${agent}`, env)

    const g1 = `agent request, one connection (${o.requests}x, Linux)`
    report.add(g1, 'direct to ssh-agent', await perRequest(agent, o.requests), 'ms')
    report.add(g1, 'socat alone', await perRequest(viaSocat, o.requests), 'ms', 'direct to ssh-agent')
    report.add(g1, 'socat + uds-relay', await perRequest(viaRelay, o.requests), 'ms', 'direct to ssh-agent')

    const g2 = `connect + request + close (${o.connections}x, Linux)`
    report.add(g2, 'direct to ssh-agent', await connectRequestClose(agent, o.connections), 'ms')
    report.add(g2, 'socat alone', await connectRequestClose(viaSocat, o.connections), 'ms', 'direct to ssh-agent')
    report.add(g2, 'socat + uds-relay', await connectRequestClose(viaRelay, o.connections), 'ms', 'direct to ssh-agent')
    const listeners = {
      'relay-listen, spawn mode': ['--spawn', '--', o.exe, 'uds-relay', agent],
      'relay-listen, in-process': ['--', o.exe, 'uds-relay', agent],
      'relay-listen --mux': ['--mux', '--', o.exe, 'mux', 'uds-relay', agent],
    }
    for (const [name, args] of Object.entries(listeners)) {
      const sock = path.join(dir, `${name.replace(/\W+/g, '-')}.sock`)
      await relayListen(o.exe, sock, args, env)
      await connectRequestClose(sock, 1) // the mux starts on first use
      report.add(g2, name, await connectRequestClose(sock, o.connections), 'ms', 'direct to ssh-agent')
    }

    // A relay started per connection against the least a Node relay can be
    // (bench/fixtures/minimal-relay.cjs, same Node), in turns.
    const viaMinimal = path.join(dir, 'minimal.sock')
    await socat(viaMinimal, `EXEC:${node22} ${minimalRelay} ${agent}`, env)
    const perConnection = Math.max(1, Math.round(o.connections / 10))
    const spawned = await interleaved(10, {
      minimal: () => connectRequestClose(viaMinimal, perConnection),
      relay: () => connectRequestClose(viaRelay, perConnection),
    })
    const g5 = `a relay process per connection vs a minimal Node relay (${perConnection * 10}x, Linux)`
    report.add(g5, 'socat + minimal Node relay (22.23.2)', spawned.minimal, 'ms')
    report.add(g5, 'socat + uds-relay', spawned.relay, 'ms', 'socat + minimal Node relay (22.23.2)')

    const total = o.throughputMiB << 20
    const sinkPath = path.join(dir, 'sink.sock')
    const sink = await SocketSink.listen(sinkPath, total)
    const tRelay = path.join(dir, 't-relay.sock')
    const tSocat = path.join(dir, 't-socat.sock')
    await socat(tRelay, `EXEC:${o.exe} uds-relay ${sinkPath}`, env)
    await socat(tSocat, `UNIX-CONNECT:${sinkPath}`, env)
    const g3 = `one-way throughput (${o.throughputMiB} MiB, Linux)`
    // Timed by the sink, from its accept to the last byte: socat + uds-relay's start-up is not in it.
    report.add(g3, 'direct', mibPerSecond(await sendThrough(sinkPath, sink)), 'MiB/s')
    report.add(g3, 'socat alone', mibPerSecond(await sendThrough(tSocat, sink)), 'MiB/s', 'direct')
    report.add(g3, 'socat + uds-relay', mibPerSecond(await sendThrough(tRelay, sink)), 'MiB/s', 'direct')

    // Peak memory of one relay moving 64 MiB, next to bare Node doing nothing.
    const g4 = 'peak RSS (Linux)'
    report.add(g4, 'bare node 22 (idle 300 ms)', await peakOf(node22, ['-e', 'setTimeout(() => {}, 300)'], undefined, env), 'MiB')
    report.add(g4, 'uds-relay moving 64 MiB', await peakOf(o.exe, ['uds-relay', sinkPath], 64 << 20, env), 'MiB', 'bare node 22 (idle 300 ms)')
    report.add(g4, `uds-relay, ${SESSION_REQUESTS}-request session`, await peakOf(o.exe, ['uds-relay', agent], session(), env), 'MiB', 'bare node 22 (idle 300 ms)')
    sink.close()
  } finally {
    await stopAll()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Peak memory of `cmd` fed `feed` (a byte count of filler, or the bytes themselves) on stdin. */
async function peakOf(cmd: string, args: string[], feed: number | Buffer | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'ignore'], env })
  const stop = watchPeakRss(child.pid!)
  if (Buffer.isBuffer(feed)) child.stdin!.write(feed)
  else if (feed) {
    const chunk = Buffer.alloc(256 * 1024)
    for (let sent = 0; sent < feed; sent += chunk.length) {
      if (!child.stdin!.write(chunk)) await new Promise((r) => child.stdin!.once('drain', r))
    }
  }
  child.stdin!.end()
  await new Promise((r) => child.once('exit', r))
  return stop()
}
