import { randomBytes } from 'node:crypto'
import { PassThrough, type Duplex } from 'node:stream'
import path from 'node:path'
import t from 'tap'
import {
  MUX_INITIAL_WINDOW,
  MUX_MAX_PAYLOAD,
  MuxFramingError,
  MuxParser,
  MuxType,
  encodeMuxFrame,
} from '../../../shared/mux/mux-frames.js'
import { MuxSession, type MuxStream } from '../../../shared/mux/mux-session.js'
import { repoRoot } from '../../../lab/built.js'
import { run } from '../../fixtures/openssh.js'


/** Two sessions wired back to back, as listener and mux process. */
function pair() {
  const toMux = new PassThrough()
  const toListener = new PassThrough()
  const errors: string[] = []
  const log = { verbose: false, error: (m: string) => errors.push(m), debug: () => {} }
  const listener = new MuxSession(toListener, toMux, { log })
  const hello = new Promise<string>((r) => listener.once('hello', r))
  const mux = new MuxSession(toMux, toListener, { log, sayHello: true })
  return { listener, mux, toMux, toListener, errors, hello }
}

/** The mux side echoes every stream, half-closing when its input ends. */
function echo(mux: MuxSession) {
  mux.on('stream', (s: MuxStream) => s.pipe(s))
}

function collect(s: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = []
  s.on('data', (c: Buffer) => chunks.push(c))
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(chunks)))
    s.once('error', reject)
  })
}

t.test('frames: layout and bounded parsing at every split', async (t) => {
  const f = encodeMuxFrame(MuxType.DATA, 7, Buffer.from('hi'))
  t.same([...f], [2, 0, 0, 0, 7, 0, 0, 0, 2, 0x68, 0x69])
  const stream = Buffer.concat([f, encodeMuxFrame(MuxType.EOF, 7), encodeMuxFrame(MuxType.WINDOW, 7, Buffer.from([0, 0, 1, 0]))])
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new MuxParser()
    const frames = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))]
    if (frames.map((x) => x.type).join() !== '2,3,5') t.fail(`cut ${cut}`)
  }
  t.throws(() => new MuxParser().push(Buffer.from([9, 0, 0, 0, 1, 0, 0, 0, 0])), MuxFramingError)
  t.throws(() => new MuxParser().push(encodeMuxFrame(MuxType.DATA, 1).fill(0xff, 5, 9)), /exceeds/)
})

t.test('hello, then interleaved streams with tiny and 256 KiB messages', async (t) => {
  const { listener, mux, hello } = pair()
  echo(mux)
  t.equal(await hello, 'relaykit-mux 1')
  const payloads = [Buffer.from([0, 0, 0, 1, 11]), randomBytes(256 * 1024 + 4), randomBytes(3), randomBytes(1 << 20)]
  const results = await Promise.all(
    payloads.map(async (p) => {
      const s = listener.open()
      const got = collect(s)
      // Written in odd slices so frames of different streams interleave.
      for (let i = 0; i < p.length; i += 7777) s.write(p.subarray(i, i + 7777))
      s.end()
      return got
    }),
  )
  results.forEach((r, i) => t.ok(r.equals(payloads[i] as Buffer), `stream ${i}: ${payloads[i]?.length} bytes intact`))
})

t.test('half-close each way: the far side keeps writing after our EOF', async (t) => {
  const { listener, mux } = pair()
  mux.on('stream', (s: MuxStream) => {
    const got: Buffer[] = []
    s.on('data', (d: Buffer) => got.push(d))
    s.on('end', () => s.end(Buffer.concat([Buffer.from('after EOF: '), ...got])))
  })
  const s = listener.open()
  const answer = collect(s)
  s.end('request')
  t.equal((await answer).toString(), 'after EOF: request')
})

t.test('finish(code) reports the exit code; abrupt close from either side', async (t) => {
  const { listener, mux } = pair()
  const seen: MuxStream[] = []
  mux.on('stream', (s: MuxStream) => {
    seen.push(s)
    if (seen.length === 1) s.finish(3)
  })
  const a = listener.open()
  await new Promise((r) => a.once('close', r))
  t.equal(a.exitCode, 3)

  const b = listener.open()
  await new Promise((r) => setImmediate(r))
  const server = seen[1] as MuxStream
  const closed = new Promise((r) => server.once('close', r))
  b.destroy()
  await closed
  t.ok(server.destroyed, 'the listener dropping a stream closes it on the mux side')
  t.equal(mux.streamCount, 0)
  t.equal(listener.streamCount, 0)
})

t.test('flow control: a stream nobody reads holds at most one window; others go on', async (t) => {
  const { listener, mux, toListener } = pair()
  let stuck: MuxStream | undefined
  mux.on('stream', (s: MuxStream) => {
    if (!stuck) {
      stuck = s // never read: its sender must stop at the window
      return
    }
    s.pipe(s)
  })
  const slow = listener.open()
  let written = 0
  const big = Buffer.alloc(64 * 1024)
  for (let i = 0; i < 32; i++) {
    slow.write(big, () => (written += big.length))
  }
  await new Promise((r) => setTimeout(r, 100))
  const bound = MUX_INITIAL_WINDOW + MUX_MAX_PAYLOAD
  t.ok(written <= bound + big.length, `sender stopped at the window (${written} of ${32 * big.length} bytes accepted)`)
  t.ok((stuck?.readableLength ?? 0) <= bound, 'receiver buffers at most a window and a frame')

  const fast = listener.open()
  const got = collect(fast)
  fast.end(randomBytes(100_000))
  t.equal((await got).length, 100_000, 'another stream still flows')
  stuck?.resume()
  await new Promise((r) => setTimeout(r, 100))
  t.equal(written, 32 * big.length, 'the slow stream resumes once read')
  void toListener
})

t.test('malformed frames: one stream fails with a clear error, the others survive', async (t) => {
  const { listener, mux, toMux, errors, hello } = pair()
  let opened = 0
  // The first stream echoes; the second never reads, so its window is never renewed.
  mux.on('stream', (s: MuxStream) => opened++ === 0 && s.pipe(s))
  await hello
  const good = listener.open()
  const goodData = collect(good)
  const victim = listener.open()
  const victimError = new Promise<Error>((r) => victim.once('error', r))
  await new Promise((r) => setImmediate(r))
  // DATA beyond the window for the victim, DATA for a never-opened stream.
  for (let sent = 0; sent <= MUX_INITIAL_WINDOW + MUX_MAX_PAYLOAD; sent += MUX_MAX_PAYLOAD) {
    toMux.write(encodeMuxFrame(MuxType.DATA, victim.id, Buffer.alloc(MUX_MAX_PAYLOAD)))
  }
  toMux.write(encodeMuxFrame(MuxType.DATA, 999, Buffer.from('x')))
  // Re-opening an id that was used and closed.
  const used = listener.open()
  await new Promise((r) => setImmediate(r))
  used.destroy()
  await new Promise((r) => setImmediate(r))
  toMux.write(encodeMuxFrame(MuxType.OPEN, used.id))
  t.match((await victimError).message, /mux stream \d+: DATA beyond the window/)
  good.end('still fine')
  t.equal((await goodData).toString(), 'still fine')
  t.match(errors.join('\n'), /stream 999, which was never opened/)
  t.match(errors.join('\n'), /OPEN of stream \d+, which was already used/)
})

t.test('a garbled header ends the session: every stream fails', async (t) => {
  const { listener, mux, toMux, toListener } = pair()
  echo(mux)
  const s = listener.open()
  const failed = new Promise((r) => s.once('close', r))
  const closed = new Promise<Error | undefined>((r) => mux.once('close', r))
  toMux.write(Buffer.from([0xee, 0, 0, 0, 1, 0, 0, 0, 0]))
  t.match((await closed)?.message, /mux framing lost: unknown mux frame type 238/)
  toListener.end() // the mux process exits: the listener's side of the pipe ends
  await failed
  t.ok(s.destroyed)
})

t.test('a closed stream leaves nothing behind: not in the session, not for the collector', async (t) => {
  // Every stream that comes and goes must be collectable by the next
  // scavenge. A Map of streams by id was not: its table is reallocated every
  // few changes and each old table points at its successor, so one dead
  // table in the old generation kept every later table, and every stream in
  // them, alive through scavenges into the old generation (300-400 bytes per
  // stream here; a stream kept alive costs over 1 KiB).
  const fixture = path.join(repoRoot, 'test', 'shared', 'mux', 'fixtures', 'stream-churn.mjs')
  const r = JSON.parse((await run(process.execPath, ['--expose-gc', fixture])).stdout) as {
    perStream: number
    streams: number[]
    listenersBefore: number[]
    listenersAfter: number[]
  }
  t.ok(r.perStream < 150, `closed streams do not reach the old generation (${r.perStream.toFixed(0)} bytes per stream)`)
  t.same(r.streams, [0, 0], 'neither side holds a stream any more')
  t.same(r.listenersAfter, r.listenersBefore, 'no listener left on the session pipes')
})
