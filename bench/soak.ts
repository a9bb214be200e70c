/**
 * Soak: does a long-lived process stay the same size however many
 * connections it has served? Connections one after another (connect,
 * REQUEST_IDENTITIES to a real ssh-agent, close), and the resident memory of
 * the process that serves them all: after a warm-up, and again after N more
 * streams, in the same run. A process that keeps anything per stream shows
 * it as a ratio above 1; V8 sizing its heap to the load is what the warm-up
 * is for.
 *
 * - relay-listen in-process: the listener runs uds-relay per connection.
 * - relay-listen --mux on Linux: the `relaykit mux uds-relay` child.
 * - relay-listen --mux under Wine: relaykit-win-x64.exe's mux child, its
 *   uds-relay reaching the agent through a Cygwin socket file that a Linux
 *   `relay-listen --cygwin` serves.
 *
 * RELAYKIT_SOAK_STREAMS sets N (default 100 000; 10 000 with BENCH_QUICK=1),
 * RELAYKIT_SOAK_WARMUP the warm-up (default 50 000; 5 000 quick): V8 grows
 * its young generation once, at a full collection, after enough survivors
 * (measured: at 25 000 to 55 000 streams, +8 MiB), and the warm-up should
 * take that step, or it shows in the ratio as if it were per stream.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { builtExecutable } from '../lab/built.js'
import { type LabEnv, ensureWineServer, wineEnv, winPath } from '../lab/winlab.js'
import { cleanEnv, connectRequestClose, laidOutCopy, median } from './measure.js'
import type { Report } from './results-table.js'
import { relayListen, sshAgent, stopAll } from './processes.js'

export interface SoakOptions {
  quick: boolean
  /** The Windows lab, if provisioned: then the Wine mux is soaked too. */
  lab?: LabEnv
}

/** Resident memory of `pid` in MiB. */
function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(kib) / 1024
}

/** The one child of `parent` (the mux process a listener started). */
function childOf(parent: number): number {
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      // "pid (comm) state ppid …"; comm may hold spaces, so split after its ')'.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) return Number(pid)
    } catch {
      // gone
    }
  }
  throw new Error(`process ${parent} has no child`)
}

function count(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number >= 1`)
  return v
}

/**
 * Serve `total` streams; the resident memory of `pid()` is sampled over the
 * last tenth of them (ten samples) and the median returned: GC leaves a
 * sawtooth (under Wine, 64 KiB read buffers waiting for collection swing
 * RSS by tens of MiB), and one sample could land on a peak or a trough.
 */
async function serveThenRss(socket: string, total: number, pid: () => number): Promise<{ rss: number; ms: number }> {
  const step = Math.max(1, Math.floor(total / 100))
  const ms = await connectRequestClose(socket, total - 10 * step)
  const samples: number[] = []
  for (let i = 0; i < 10; i++) {
    await connectRequestClose(socket, step)
    samples.push(rssMiB(pid()))
  }
  return { rss: median(samples), ms }
}

export async function benchSoak(report: Report, o: SoakOptions): Promise<void> {
  const n = count('RELAYKIT_SOAK_STREAMS', o.quick ? 10_000 : 100_000)
  const warmup = count('RELAYKIT_SOAK_WARMUP', o.quick ? 5_000 : 50_000)
  const group = `RSS of the serving process, ${n} streams after a ${warmup}-stream warm-up`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rks-'))
  // RSS counts the executable's pages as the page cache holds them: a copy
  // laid out as a user's machine holds it, not the file the build just wrote.
  const exe = laidOutCopy(builtExecutable('linux-x64'), dir, 'relaykit')
  try {
    const agent = await sshAgent(dir)
    // After the warm-up, halfway and at the end: a leak grows in both
    // halves, V8 sizing its young generation to the load is one step.
    const soak = async (name: string, socket: string, pid: () => number) => {
      const base = `${name}: after warm-up`
      report.add(group, base, (await serveThenRss(socket, warmup, pid)).rss, 'MiB')
      const half = Math.floor(n / 2)
      const first = await serveThenRss(socket, half, pid)
      report.add(group, `${name}: after ${half} more`, first.rss, 'MiB', base)
      const second = await serveThenRss(socket, n - half, pid)
      report.add(group, `${name}: after ${n} more`, second.rss, 'MiB', base)
      process.stderr.write(`  (${name}: median ${second.ms.toFixed(2)} ms per connect + request + close)\n`)
    }

    const inProcess = path.join(dir, 'in-process.sock')
    const listener = await relayListen(exe, inProcess, ['--', 'uds-relay', agent], cleanEnv())
    await soak('relay-listen in-process', inProcess, () => listener.pid as number)

    const mux = path.join(dir, 'mux.sock')
    const muxListener = await relayListen(exe, mux, ['--mux', '--', exe, 'mux', 'uds-relay', agent], cleanEnv())
    await soak('relay-listen --mux (Linux)', mux, () => childOf(muxListener.pid as number))

    if (o.lab) {
      ensureWineServer(o.lab)
      const env = cleanEnv(wineEnv(o.lab))
      const cygwinFile = path.join(dir, 'agent.cygsock')
      await relayListen(exe, cygwinFile, ['--cygwin', '--', 'uds-relay', agent], env)
      const wineMux = path.join(dir, 'wine-mux.sock')
      const winExe = builtExecutable('win-x64')
      // The file was written on Linux, so it has no SYSTEM attribute: say which variant.
      const command = [o.lab.wine64, winExe, 'mux', 'uds-relay', '--cygwin-variant', 'cygwin', winPath(cygwinFile)]
      const wineListener = await relayListen(exe, wineMux, ['--mux', '--', ...command], env)
      await soak('relay-listen --mux (Wine)', wineMux, () => childOf(wineListener.pid as number))
    } else {
      process.stderr.write('  (Wine mux soak skipped: no Windows lab)\n')
    }
  } finally {
    await stopAll()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
