/**
 * Small measuring tools for the benchmarks. Every figure is a median over
 * repetitions, and is reported next to a baseline measured in the same run:
 * these machines are shared and noisy, ratios travel better than times.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { AgentMessage, FrameParser, encodeFrame } from '../shared/agent/frames.js'

/**
 * A copy of an executable under test; every one is written the same way. How a
 * file was written changes what running it costs: one written in a single
 * large write (as the build writes the executable) sits in the page cache in
 * large folios, and every process mapping it then counts 15-30 MiB more RSS
 * (node -e 0 itself: 43 MiB copied, 67 MiB written in 1 MiB writes) and
 * starts a little faster. A copy is laid out as tar or cp would lay out the
 * file on a user's machine.
 */
export function laidOutCopy(file: string, dir: string, name: string): string {
  const copy = path.join(dir, name)
  fs.copyFileSync(file, copy)
  fs.chmodSync(copy, 0o755)
  return copy
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6

const identities = encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => resolve(s))
    s.once('error', reject)
  })
}

function ask(s: net.Socket, parser: FrameParser): Promise<void> {
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      const frames = parser.push(d)
      if (frames.length === 0) return
      s.removeListener('data', onData)
      if (frames[0]?.type !== AgentMessage.SSH_AGENT_IDENTITIES_ANSWER) reject(new Error(`answer type ${frames[0]?.type}`))
      else resolve()
    }
    s.on('data', onData)
    s.write(identities)
  })
}

/** Median ms per REQUEST_IDENTITIES, `n` of them on one connection. */
export async function perRequest(socket: string, n: number): Promise<number> {
  const s = await connect(socket)
  const parser = new FrameParser()
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = now()
    await ask(s, parser)
    times.push(now() - t0)
  }
  s.destroy()
  return median(times)
}

/** Median ms for connect + one request + close, `n` times in a row. */
export async function connectRequestClose(socket: string, n: number): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = now()
    const s = await connect(socket)
    await ask(s, new FrameParser())
    s.destroy()
    times.push(now() - t0)
  }
  return median(times)
}

/** Median wall time of running a command to completion, `n` times. */
export async function startupMs(cmd: string, args: string[], n: number, env: NodeJS.ProcessEnv): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = now()
    await new Promise<void>((resolve, reject) => {
      const c = spawn(cmd, args, { stdio: 'ignore', env })
      c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))))
      c.on('error', reject)
    })
    times.push(now() - t0)
  }
  return median(times)
}

/** Peak resident memory (VmHWM, MiB) of a running process, read from /proc just before it exits. */
export function watchPeakRss(pid: number): () => number {
  let peak = 0
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) peak = Math.max(peak, Number(m[1]) / 1024)
    } catch {
      // gone
    }
  }
  read()
  const timer = setInterval(read, 10)
  return () => {
    clearInterval(timer)
    return peak
  }
}

/** An environment without what skews start-up times (docs/building.md) or leaks tap's loaders. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  delete env.NODE_EXTRA_CA_CERTS
  delete env.NODE_OPTIONS
  return env
}

/**
 * Medians of several measurements taken in turns (a round of each, `rounds`
 * times), so that load from other work on a shared machine falls on all of
 * them alike and their ratios stay honest. Each measurement returns one
 * figure per round (itself a median); the result is the median per name.
 */
export async function interleaved<K extends string>(rounds: number, measures: Record<K, () => Promise<number>>): Promise<Record<K, number>> {
  const names = Object.keys(measures) as K[]
  const seen = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>
  for (let r = 0; r < rounds; r++) {
    for (const k of names) seen[k].push(await measures[k]())
  }
  return Object.fromEntries(names.map((k) => [k, median(seen[k])])) as Record<K, number>
}

/** The median of `n` runs of `measure`. */
export async function medianOf(n: number, measure: () => Promise<number>): Promise<number> {
  const xs: number[] = []
  for (let i = 0; i < n; i++) xs.push(await measure())
  return median(xs)
}

/** Wall time of one run of a command to completion, stdin empty, output discarded. */
export function runMs(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return startupMs(cmd, [...args], 1, env)
}

/** How many requests the memory figure of an agent session covers. */
export const SESSION_REQUESTS = 500

/** An agent session's requests, all at once: REQUEST_IDENTITIES, SESSION_REQUESTS times. */
export function session(): Buffer {
  return Buffer.concat(Array.from({ length: SESSION_REQUESTS }, () => identities))
}
