/**
 * shared/win32/pipe-server.ts for real: the compiled module runs in Windows
 * node.exe under Wine (fixtures/pipe-server-host.mjs, driven over stdin),
 * and plain Node clients in other node.exe processes talk to it
 * (fixtures/pipe-client.cjs). What Wine cannot show (remote clients, other
 * accounts, FILE_FLAG_FIRST_PIPE_INSTANCE itself) is said where it matters.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { assertCompiled } from '../../../lab/built.js'
import { normalizePipeName } from '../../../shared/win32/pipe-server.js'
import { type LabEnv, requireLab, runWine, spawnWine, uniquePipeName, winPath } from '../../../lab/winlab.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = (name: string) => winPath(path.join(here, 'fixtures', name))

const PIPE_SERVER_END = 0x1
const PIPE_TYPE_MESSAGE = 0x4
const PIPE_REJECT_REMOTE_CLIENTS = 0x8
const PIPE_ACCESS_DUPLEX = 0x3
const FILE_FLAG_OVERLAPPED = 0x40000000
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000

type Event = { event: string; [key: string]: unknown }

let scratch: string | undefined
let hosts = 0
t.teardown(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true })
})

interface Host {
  pipe: string
  child: ChildProcess
  events: Event[]
  send(command: string): void
  /** The first event at index >= from matching `match`. */
  waitFor(match: string | ((e: Event) => boolean), timeoutMs?: number, from?: number): Promise<Event>
  exited: Promise<number | null>
}

function jsonLines(child: ChildProcess, into: Event[], notify: () => void): void {
  let partial = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString()
    const lines = partial.split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) if (line.trim()) into.push(JSON.parse(line) as Event)
    notify()
  })
}

/**
 * Start pipe-server-host.mjs on `pipe`; resolves once it reported "ready" or
 * "listen-error". Its stderr is a file: once koffi is loaded, node.exe's exit
 * under Wine reports "Failed to sync '<stdout>'" when stdout is a pipe, and
 * with stderr a pipe as well the exit code becomes 9 (docs/windows-lab.md,
 * "koffi and /dev/null").
 */
async function startHost(t: Test, lab: LabEnv, pipe: string, env: Record<string, string> = {}): Promise<Host> {
  scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-pipe-server-'))
  const errFile = path.join(scratch, `host-${++hosts}.stderr`)
  const errFd = fs.openSync(errFile, 'w')
  let child: ChildProcess
  try {
    child = spawnWine(lab, lab.nodeExe, [fixture('pipe-server-host.mjs')], {
      stdio: ['pipe', 'pipe', errFd],
      env: { PIPE: pipe, ...env },
      t,
    })
  } finally {
    fs.closeSync(errFd)
  }
  const events: Event[] = []
  const stderr = () => fs.readFileSync(errFile, 'utf8')
  const listeners = new Set<() => void>()
  const notify = () => listeners.forEach((l) => l())
  jsonLines(child, events, notify)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let gone = false
  void exited.then(() => {
    gone = true
    notify()
  })
  const waitFor = (match: string | ((e: Event) => boolean), timeoutMs = 20_000, from = 0) =>
    new Promise<Event>((resolve, reject) => {
      const test = typeof match === 'string' ? (e: Event) => e.event === match : match
      const finish = (fn: () => void) => {
        clearTimeout(timer)
        listeners.delete(check)
        fn()
      }
      const check = () => {
        const found = events.slice(from).find(test)
        if (found) return finish(() => resolve(found))
        if (gone) finish(() => reject(new Error(`server host exited first; events ${JSON.stringify(events)}; stderr ${stderr()}`)))
      }
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for ${String(match)}; events ${JSON.stringify(events)}; stderr ${stderr()}`))),
        timeoutMs,
      )
      listeners.add(check)
      check()
    })
  const host: Host = { pipe, child, events, send: (c) => child.stdin?.write(c + '\n'), waitFor, exited }
  child.stdin?.on('error', () => {})
  await waitFor((e) => e.event === 'ready' || e.event === 'listen-error', 60_000)
  return host
}

/** Run pipe-client.cjs to completion; its one JSON line. */
async function runClient(t: Test, lab: LabEnv, pipe: string, env: Record<string, string>): Promise<Record<string, unknown>> {
  const r = await runWine(lab, lab.nodeExe, [fixture('pipe-client.cjs')], { env: { PIPE: pipe, ...env }, t, timeoutMs: 90_000 })
  const last = r.stdout.trim().split('\n').pop() ?? ''
  try {
    return JSON.parse(last) as Record<string, unknown>
  } catch {
    throw new Error(`client gave no result (exit ${r.code}): ${r.stdout} ${r.stderr}`)
  }
}

/** Start pipe-client.cjs in the background (for clients that block); events as they come. */
function spawnClient(t: Test, lab: LabEnv, pipe: string, env: Record<string, string>) {
  const child = spawnWine(lab, lab.nodeExe, [fixture('pipe-client.cjs')], { stdio: ['ignore', 'pipe', 'pipe'], env: { PIPE: pipe, ...env }, t })
  const lines: Event[] = []
  jsonLines(child, lines, () => {})
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, lines, exited }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('pipe names: \\\\.\\pipe\\ and //./pipe/ forms, nothing else', async (t) => {
  t.equal(normalizePipeName('\\\\.\\pipe\\agent'), '\\\\.\\pipe\\agent')
  t.equal(normalizePipeName('//./pipe/agent'), '\\\\.\\pipe\\agent')
  t.equal(normalizePipeName('//./PIPE/a/b'), '\\\\.\\PIPE\\a\\b', 'backslashes inside the name are allowed')
  for (const bad of ['agent', '\\\\server\\pipe\\agent', '//./pipe/', 'C:\\pipe\\x', '\\\\.\\mailslot\\x']) {
    t.throws(() => normalizePipeName(bad), TypeError, bad)
  }
})

t.test('under Wine', async (t) => {
  const lab = requireLab(t)
  if (!lab) return
  assertCompiled(['win32/pipe-server', 'win32/security', 'win32/completion-port', 'win32/kernel32', 'win32/errors'])

  t.test('DACL, owner and pipe flags read back from an instance', async (t) => {
    const host = await startHost(t, lab, uniquePipeName('psec'))
    host.send('describe')
    const { report } = (await host.waitFor('describe')) as unknown as { report: Record<string, unknown> }
    t.comment(`SDDL as stored: ${String(report.sddl)}`)
    const sid = report.userSid as string
    t.match(sid, /^S-1-5-/, 'the token user SID')
    t.equal(report.owner, sid, 'owner is the current user')
    t.equal(report.daclFlags, 'P', 'DACL protected from inheritance, nothing else')
    t.same((report.aces as string[]).length, 1, 'exactly one ACE')
    // Windows stores generic rights mapped (FA = FILE_ALL_ACCESS); Wine keeps GA.
    t.match((report.aces as string[])[0], new RegExp(`^A;;(GA|FA);;;${sid}$`), 'allow, all access, the user only')
    const flags = report.flags as number
    t.ok(flags & PIPE_SERVER_END, 'GetNamedPipeInfo: server end')
    t.notOk(flags & PIPE_TYPE_MESSAGE, 'GetNamedPipeInfo: byte type')
    t.equal(report.inBufferSize, 65536)
    t.equal(report.outBufferSize, 65536)
    t.ok([255, 0xffffffff].includes(report.maxInstances as number), `unlimited instances (${String(report.maxInstances)})`)
    t.equal(report.currentInstances, 4, 'four free instances waiting (the default)')
    t.equal(report.requestedPipeMode, PIPE_REJECT_REMOTE_CLIENTS, 'asked for byte mode, wait, reject remote clients')
    t.equal(report.requestedOpenMode, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE)
    // Wine's CreateNamedPipeW drops PIPE_REJECT_REMOTE_CLIENTS, so whether the
    // system kept it (NamedPipeType bit 1) cannot be checked here.
    t.comment(`NamedPipeType ${String(report.namedPipeType)}; rejectsRemoteClients as the OS reports it: ${String(report.rejectsRemoteClients)}`)
    host.send('close')
    await host.waitFor('closed')
  })

  t.test('1 MiB echoed byte-exact; the client\'s end() is our \'end\', then we close', async (t) => {
    const host = await startHost(t, lab, uniquePipeName('pecho'))
    const r = await runClient(t, lab, host.pipe, { MODE: 'echo', SIZE: String(1 << 20) })
    t.match(r.results, [{ index: 0, bytes: 1 << 20, same: true }])
    const end = await host.waitFor('end')
    t.equal(end.received, 1 << 20)
    await host.waitFor('finish')
    await host.waitFor('close')
  })

  // `lost`: the last error is set to 0 after every Win32 call, as when a
  // koffi async call ends on a pool thread right after a call
  // (fixtures/last-error-lost.mjs). When the server read GetLastError after
  // ReadFile, a pending read then looked like an empty one and the bytes it
  // brought were lost: a client hung or got EPIPE (in CI, about 1 run in 50
  // without `lost`).
  for (const { free, lost } of [{ free: 4 }, { free: 1 }, { free: 4, lost: true }]) {
    t.test(`16 parallel clients x 1 MiB, ${free} free instance(s) kept waiting${lost ? ', the last error lost after every call' : ''}`, async (t) => {
      const host = await startHost(t, lab, uniquePipeName('ppar'), { FREE: String(free), ...(lost ? { LAST_ERROR_LOST: '1' } : {}) })
      const r = await runClient(t, lab, host.pipe, { MODE: 'echo', SIZE: String(1 << 20), CLIENTS: '16' }).catch(async (e: unknown) => {
        host.send('stats')
        await host.waitFor('stats', 5000).catch(() => undefined)
        throw new Error(`${String(e)}\nserver events: ${JSON.stringify(host.events)}`)
      })
      const results = r.results as { bytes: number; same: boolean; error?: string; ms: number }[]
      t.equal(results.length, 16)
      t.ok(
        results.every((x) => x.same && x.bytes === 1 << 20),
        `all byte-exact: ${JSON.stringify(results.map((x) => x.error ?? x.bytes))}`,
      )
      t.comment(`slowest client ${Math.max(...results.map((x) => x.ms))} ms`)
      host.send('stats')
      const stats = await host.waitFor('stats')
      t.equal(stats.connections, 0, 'every connection closed')
      host.send('describe')
      const { report } = (await host.waitFor('describe')) as unknown as { report: { currentInstances: number } }
      t.equal(report.currentInstances, free, 'back to the free instances only')
    })
  }

  t.test('end() after a 3 MB reply: the client reads all of it, then EOF', async (t) => {
    const host = await startHost(t, lab, uniquePipeName('preply'), { MODE: 'reply', REQUEST: '5', REPLY: '3000000' })
    const r = await runClient(t, lab, host.pipe, { MODE: 'request', SIZE: '5' })
    t.same(r, { eof: true, bytes: 3_000_000, pattern: true }, 'no DisconnectNamedPipe loss')
    await host.waitFor('replied')
    await host.waitFor('close')
  })

  t.test('full duplex: we write 1 MiB while the client writes 1 MiB before reading', async (t) => {
    // With only one operation pending at a time, both writes would wait for
    // a reader and neither side would ever read.
    const host = await startHost(t, lab, uniquePipeName('pdup'), { MODE: 'duplex', REPLY: String(1 << 20) })
    const r = await runClient(t, lab, host.pipe, { MODE: 'duplex', SIZE: String(1 << 20), REPLY: String(1 << 20) })
    t.same(r, { written: 1 << 20, bytes: 1 << 20, pattern: true })
    await host.waitFor('written')
    t.equal((await host.waitFor('close')).received, 1 << 20)
  })

  t.test('a client that sends and hangs up gives \'end\' with its bytes, then \'close\'', async (t) => {
    const host = await startHost(t, lab, uniquePipeName('phang'), { MODE: 'sink' })
    t.same(await runClient(t, lab, host.pipe, { MODE: 'hangup' }), { sent: 3 })
    t.equal((await host.waitFor('end')).received, 3)
    await host.waitFor('close')
    t.notOk(host.events.some((e) => e.event === 'error'), 'no error')
  })

  t.test('writing to a client that has gone: EPIPE, then close', async (t) => {
    const host = await startHost(t, lab, uniquePipeName('pflood'), { MODE: 'flood' })
    const r = await runClient(t, lab, host.pipe, { MODE: 'partial', SIZE: '200000' })
    t.ok((r.bytes as number) >= 200000)
    await host.waitFor('close')
    const error = host.events.find((e) => e.event === 'error')
    if (error) {
      t.equal(error.code, 'EPIPE')
      t.ok([109, 232, 233].includes(error.winError as number), `ERROR_BROKEN_PIPE/NO_DATA/PIPE_NOT_CONNECTED (${String(error.winError)})`)
    } else {
      t.ok(host.events.some((e) => e.event === 'end'), 'or the read side saw EOF first')
    }
  })

  t.test('backpressure: a paused connection stops reading; resumed, all 8 MiB arrive', async (t) => {
    const host = await startHost(t, lab, uniquePipeName('phold'), { MODE: 'hold' })
    const client = spawnClient(t, lab, host.pipe, { MODE: 'send', SIZE: String(8 << 20) })
    await host.waitFor('connection')
    await sleep(1500)
    host.send('stats')
    const stats = (await host.waitFor('stats')) as unknown as { conns: { readableLength: number }[] }
    const buffered = stats.conns[0]?.readableLength ?? -1
    t.ok(buffered >= 0 && buffered <= 128 * 1024, `at most one read ahead is buffered (${buffered} bytes)`)
    t.notOk(client.lines.some((l) => 'written' in l), 'the client\'s write has not completed')
    host.send('resume')
    t.equal((await host.waitFor('end')).received, 8 << 20)
    t.equal(await client.exited, 0)
    t.ok(client.lines.some((l) => l.written === 8 << 20))
  })

  t.test('a second listener on the same name fails: another listener owns it', async (t) => {
    const pipe = uniquePipeName('pdouble')
    const host = await startHost(t, lab, pipe)
    host.send('listen-again')
    const again = await host.waitFor('listen-again')
    t.equal(again.ok, false, 'same process')
    t.equal(again.code, 'EADDRINUSE')
    t.match(again.message, /already in use: another listener owns it/)

    const second = await startHost(t, lab, pipe)
    const refused = await second.waitFor('listen-error')
    t.equal(refused.code, 'EADDRINUSE', 'another process')
    t.match(refused.message, /another listener owns it/)
    t.equal(await second.exited, 3)

    // The first one is unharmed.
    const r = await runClient(t, lab, pipe, { MODE: 'echo', SIZE: '1000' })
    t.same((r.results as { same: boolean }[])[0]?.same, true, 'the first listener still serves')
  })

  t.test('a name served by Node\'s own pipe server is refused too', async (t) => {
    const pipe = uniquePipeName('plibuv')
    const libuv = spawnWine(lab, lab.nodeExe, [fixture('libuv-server.cjs')], { stdio: ['ignore', 'pipe', 'pipe'], env: { PIPE: pipe }, t })
    await new Promise<void>((resolve, reject) => {
      let out = ''
      libuv.stdout?.on('data', (c: Buffer) => {
        out += c.toString()
        if (out.includes('ready')) resolve()
      })
      libuv.once('exit', () => reject(new Error(`libuv server exited: ${out}`)))
    })
    const host = await startHost(t, lab, pipe)
    const refused = await host.waitFor('listen-error')
    t.equal(refused.code, 'EADDRINUSE')
  })

  t.test('close(): no new instances; an open connection lives on; resolves when it closes; the name is free again', async (t) => {
    const pipe = uniquePipeName('pclose')
    const host = await startHost(t, lab, pipe, { MODE: 'hold' })
    const client = spawnClient(t, lab, pipe, { MODE: 'send', SIZE: String(4 << 20) })
    await host.waitFor('connection')
    host.send('close')
    const closing = await host.waitFor('closing')
    t.same([closing.listening, closing.connections], [false, 1])
    await sleep(1000)
    t.notOk(host.events.some((e) => e.event === 'closed'), 'close() waits for the connection')
    host.send('resume')
    t.equal((await host.waitFor('end')).received, 4 << 20, 'the connection kept working')
    await host.waitFor('closed')
    t.equal(await client.exited, 0)
    // With stdin closed there is nothing left: the process ends by itself.
    host.child.stdin?.end()
    t.equal(await host.exited, 0, 'no handle, thread or wait left behind')

    const next = await startHost(t, lab, pipe)
    t.equal(next.events[0]?.event, 'ready', 'a new listener can take the name')
  })

  t.test('close({ destroyConnections }): connections dropped, name gone at once', async (t) => {
    const pipe = uniquePipeName('pdestroy')
    const host = await startHost(t, lab, pipe, { MODE: 'hold' })
    const client = spawnClient(t, lab, pipe, { MODE: 'send', SIZE: String(4 << 20) })
    await host.waitFor('connection')
    host.send('close-destroy')
    await host.waitFor('close')
    await host.waitFor('closed')
    t.not(await client.exited, null, 'the client is not left hanging')
    t.same(await runClient(t, lab, pipe, { MODE: 'connect' }), { error: 'ENOENT' }, 'nobody serves the name any more')
  })

  t.test('process.exit() while listening (a pool thread waits on the port) exits at once', async (t) => {
    const host = await startHost(t, lab, uniquePipeName('pexit'), { MODE: 'hold' })
    const client = spawnClient(t, lab, host.pipe, { MODE: 'send', SIZE: String(4 << 20) })
    await host.waitFor('connection')
    const started = Date.now()
    host.send('exit')
    // EOF too: Node's exit also joins the pool thread that reads stdin, which
    // would otherwise wait for ever (see shared/win32/process.ts).
    host.child.stdin?.end()
    t.equal(await host.exited, 0)
    const ms = Date.now() - started
    t.ok(ms < 5000, `exited after ${ms} ms`)
    await client.exited
  })
})
