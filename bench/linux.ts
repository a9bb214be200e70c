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
import { cleanEnv, connectRequestClose, perRequest, startupMs, watchPeakRss } from './measure.js'
import { relayListen, socat, sshAgent, stopAll } from './processes.js'
import type { Report } from './results-table.js'
import { SocketSink, mibPerSecond, sendThrough } from './throughput.js'

export interface LinuxOptions {
  exe: string
  requests: number
  connections: number
  throughputMiB: number
  startups: number
}

export async function benchLinux(report: Report, o: LinuxOptions): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkb-'))
  const env = cleanEnv()
  try {
    const node22 = await new NodeRuntimes(buildCacheDir()).binary(TARGETS.get('linux-x64')!)
    report.add('startup (Linux)', 'node -e 0 (22.23.2)', await startupMs(node22, ['-e', '0'], o.startups, env), 'ms')
    report.add('startup (Linux)', 'relaykit --version', await startupMs(o.exe, ['--version'], o.startups, env), 'ms', 'node -e 0 (22.23.2)')

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
    sink.close()
  } finally {
    await stopAll()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function peakOf(cmd: string, args: string[], feed: number | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'ignore'], env })
  const stop = watchPeakRss(child.pid!)
  if (feed) {
    const chunk = Buffer.alloc(256 * 1024)
    for (let sent = 0; sent < feed; sent += chunk.length) {
      if (!child.stdin!.write(chunk)) await new Promise((r) => child.stdin!.once('drain', r))
    }
  }
  child.stdin!.end()
  await new Promise((r) => child.once('exit', r))
  return stop()
}
