/**
 * Property tests with seeded random input: the agent-frame parser, the
 * message relay every agent-aware relay runs on stdin (pageant-relay,
 * --agent), the byte pump every byte relay runs, and the mux parser. Random
 * chunking, random bytes, and the lengths that matter: 0, 1, the limit, the
 * limit + 1 and 2^32 - 1. No crash, no hang, nothing lost, memory bounded.
 */
import { Duplex, PassThrough, Readable } from 'node:stream'
import t from 'tap'
import {
  AGENT_FAILURE,
  AGENT_FAILURE_FRAME,
  AGENT_MAX_LEN,
  type AgentFrame,
  FrameError,
  FrameParser,
  HEADER_LEN,
  encodeFrame,
  frameOf,
} from '../../shared/agent/frames.js'
import { relayAgent } from '../../shared/agent/relay.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { createLog } from '../../shared/log.js'
import { MUX_HEADER_LEN, MUX_MAX_PAYLOAD, MuxFramingError, MuxParser, encodeMuxFrame } from '../../shared/mux/mux-frames.js'
import { pump } from '../../shared/pump.js'
import { recordFigures } from '../../lab/figures.js'
import { type Random, seededRandom } from '../fixtures/random.js'

const CASES = Number(process.env.RELAYKIT_FUZZ_CASES ?? 2000)
const silent = () => createLog(new PassThrough(), 'fuzz', false)

/** A random valid message of at most `max` bytes after the length field. */
function randomFrame(r: Random, max: number): Buffer {
  const size = r.next() < 0.1 ? r.pick([1, max]) : r.int(1, Math.min(max, 2048))
  return encodeFrame(r.int(0, 255), r.bytes(size - 1))
}

/** A header claiming `length`, then up to 64 bytes of whatever. */
function header(length: number, r: Random): Buffer {
  const b = Buffer.alloc(HEADER_LEN)
  b.writeUInt32BE(length)
  return Buffer.concat([b, r.bytes(r.int(0, 64))])
}

t.test('frame parser: random valid streams in random chunks come out whole and in order', async (t) => {
  const r = seededRandom(t)
  let frames = 0
  for (let c = 0; c < CASES; c++) {
    const maxLength = r.pick([1, 2, 17, 300, AGENT_MAX_LEN])
    const parser = new FrameParser({ maxLength })
    const sent = Array.from({ length: r.int(1, 12) }, () => randomFrame(r, maxLength))
    const got: AgentFrame[] = []
    for (const chunk of r.chunks(Buffer.concat(sent), r.pick([1, 3, 64, 100_000]))) {
      got.push(...parser.push(chunk))
      if (parser.buffered > maxLength + HEADER_LEN - 1) t.fail(`case ${c}: holds ${parser.buffered} bytes`)
    }
    if (got.length !== sent.length || got.some((f, i) => !f.bytes.equals(sent[i] as Buffer) || f.type !== sent[i]?.[HEADER_LEN])) {
      t.fail(`case ${c}: frames differ`)
    }
    frames += got.length
  }
  t.pass(`${CASES} streams, ${frames} messages, all intact`)
  recordFigures('fuzz', { 'frame parser: valid streams': CASES, 'frame parser: messages checked': frames })
})

t.test('frame parser: random bytes never crash, never exceed the bound, fail once and stay failed', async (t) => {
  const r = seededRandom(t)
  let failures = 0
  for (let c = 0; c < CASES; c++) {
    const maxLength = r.pick([1, 5, 300, AGENT_MAX_LEN])
    const parser = new FrameParser({ maxLength })
    const input = r.bytes(r.int(0, 4096))
    let taken = 0
    let failed = false
    for (const chunk of r.chunks(input, r.pick([1, 7, 512]))) {
      try {
        for (const f of parser.push(chunk)) {
          if (f.length < 1 || f.length > maxLength || !f.bytes.equals(input.subarray(taken, taken + f.bytes.length))) {
            t.fail(`case ${c}: bad message`)
          }
          taken += f.bytes.length
        }
      } catch (err) {
        if (!(err instanceof FrameError)) throw err
        for (const f of err.complete) taken += f.bytes.length
        failed = true
        t.throws(() => parser.push(Buffer.from([0])), FrameError, 'unusable after failing')
        break
      }
      if (parser.buffered > maxLength + HEADER_LEN - 1) t.fail(`case ${c}: holds ${parser.buffered} bytes`)
    }
    if (failed) failures++
  }
  t.pass(`${CASES} random inputs, ${failures} rejected as malformed, none crashed`)
  recordFigures('fuzz', { 'frame parser: random byte inputs': CASES })
})

t.test('frame parser: the lengths that matter, split at every byte', async (t) => {
  const r = seededRandom(t)
  const cases: Array<[number, boolean]> = [
    [0, false],
    [1, true],
    [AGENT_MAX_LEN, true],
    [AGENT_MAX_LEN + 1, false],
    [2 ** 32 - 1, false],
  ]
  let checked = 0
  for (const [length, valid] of cases) {
    for (let split = 1; split <= HEADER_LEN + 1; split++) {
      const parser = new FrameParser()
      const msg = valid ? Buffer.concat([header(length, r).subarray(0, HEADER_LEN), Buffer.alloc(length, 9)]) : header(length, r)
      let frames: AgentFrame[] = []
      let error: unknown
      try {
        frames = [...parser.push(msg.subarray(0, split)), ...parser.push(msg.subarray(split))]
      } catch (err) {
        error = err
      }
      if (valid) t.equal(frames[0]?.length, length, `length ${length} accepted (split ${split})`)
      else {
        t.type(error, FrameError, `length ${length} refused (split ${split})`)
        t.equal(parser.buffered, 0, 'and nothing kept')
      }
      checked++
    }
  }
  recordFigures('fuzz', { 'frame parser: edge lengths x splits': checked })
})

/** A channel that answers each whole agent message after a random pause. */
/** A query that answers with `answer`, or now and then fails; `failed` counts the failures. */
function fakeAgent(r: Random, answer: (f: AgentFrame) => Buffer) {
  const query = async (request: AgentFrame) => {
    if (r.next() < 0.3) await new Promise((res) => setImmediate(res))
    if (r.next() < 0.05) {
      query.failed++
      throw new Error('the agent went away')
    }
    return frameOf(answer(request))
  }
  query.failed = 0
  return query
}

t.test('agent relay stdin: random messages, chunks and garbage; answers in order, exit 0 or 5', async (t) => {
  const r = seededRandom(t)
  const cases = Math.ceil(CASES / 4)
  let requests = 0
  for (let c = 0; c < cases; c++) {
    const sent = Array.from({ length: r.int(0, 10) }, () => randomFrame(r, 4096))
    const garbage = r.next() < 0.3
    const tail = garbage ? header(r.pick([0, AGENT_MAX_LEN + 1, 2 ** 32 - 1, r.int(AGENT_MAX_LEN + 2, 2 ** 32 - 2)]), r) : Buffer.alloc(0)
    const stdin = new PassThrough()
    const stdout = new PassThrough()
    const out: Buffer[] = []
    stdout.on('data', (d: Buffer) => out.push(d))
    const query = fakeAgent(r, (f) => encodeFrame(f.type ^ 0xff, f.bytes.subarray(HEADER_LEN + 1, HEADER_LEN + 9)))
    const result = relayAgent({ stdin, stdout }, query, { log: silent(), maxQueued: r.int(1, 8) })
    for (const chunk of r.chunks(Buffer.concat([...sent, tail]), r.pick([1, 5, 333, 10_000]))) stdin.write(chunk)
    stdin.end()
    const code = await result
    // A failed query is answered FAILURE and reported in the exit code, unless the input was garbage.
    if (code !== (garbage ? ExitCode.PROTOCOL : query.failed ? ExitCode.ERROR : ExitCode.OK)) t.fail(`case ${c}: exit ${code}`)
    const answers = new FrameParser().push(Buffer.concat(out))
    if (answers.length !== sent.length) t.fail(`case ${c}: ${answers.length} answers to ${sent.length} requests`)
    answers.forEach((a, i) => {
      const req = sent[i] as Buffer
      const expected = encodeFrame((req[HEADER_LEN] as number) ^ 0xff, req.subarray(HEADER_LEN + 1, HEADER_LEN + 9))
      if (!a.bytes.equals(expected) && !a.bytes.equals(AGENT_FAILURE_FRAME)) t.fail(`case ${c}: answer ${i} is wrong`)
    })
    requests += sent.length
  }
  t.pass(`${cases} sessions, ${requests} requests, every one answered in order`)
  recordFigures('fuzz', { 'agent relay: sessions': cases, 'agent relay: requests': requests })
})

t.test('agent relay: a length of 2^32 - 1 followed by 64 MiB is refused at once, without reading on', async (t) => {
  const block = Buffer.alloc(64 * 1024)
  let pulled = 0
  const stdin = new Readable({
    read() {
      if (pulled >= 64 * 1024 * 1024) return void this.push(null)
      this.push(pulled === 0 ? Buffer.from([0xff, 0xff, 0xff, 0xff, 13]) : block)
      pulled += pulled === 0 ? 5 : block.length
    },
  })
  const result = relayAgent({ stdin, stdout: new PassThrough() }, () => Promise.resolve(AGENT_FAILURE), { log: silent() })
  t.equal(await result, ExitCode.PROTOCOL)
  await new Promise((res) => setTimeout(res, 100))
  t.ok(pulled < 1024 * 1024, `stdin stopped being read after ${pulled} bytes of the claimed 4 GiB`)
})

t.test('byte pump: random data in random chunks through an echoing channel arrives byte-exact', async (t) => {
  const r = seededRandom(t)
  const cases = Math.ceil(CASES / 10)
  let bytes = 0
  for (let c = 0; c < cases; c++) {
    const data = r.bytes(r.int(0, 300_000))
    const channel = new Duplex({
      allowHalfOpen: true,
      read() {},
      write(chunk: Buffer, _e, cb) {
        // Echo in pieces of another random size, sometimes later.
        for (const piece of r.chunks(chunk, 5000)) this.push(piece)
        if (r.next() < 0.2) setImmediate(cb)
        else cb()
      },
      final(cb) {
        this.push(null)
        cb()
      },
    })
    const stdin = new PassThrough()
    const stdout = new PassThrough({ highWaterMark: r.pick([1, 1024, 65536]) })
    const out: Buffer[] = []
    stdout.on('data', (d: Buffer) => out.push(d))
    const result = pump({ stdin, stdout }, channel, { halfClose: true, log: silent() })
    for (const chunk of r.chunks(data, r.pick([1, 999, 65536]))) {
      if (!stdin.write(chunk)) await new Promise((res) => stdin.once('drain', res))
    }
    stdin.end()
    if ((await result) !== ExitCode.OK || !Buffer.concat(out).equals(data)) t.fail(`case ${c}: stream differs`)
    bytes += data.length
  }
  t.pass(`${cases} streams, ${bytes} bytes, all byte-exact`)
  recordFigures('fuzz', { 'byte pump: streams': cases })
})

t.test('mux parser: random bytes and random splits of valid frames', async (t) => {
  const r = seededRandom(t)
  for (let c = 0; c < CASES; c++) {
    const parser = new MuxParser()
    try {
      for (const chunk of r.chunks(r.bytes(r.int(0, 2048)), 300)) parser.push(chunk)
    } catch (err) {
      if (!(err instanceof MuxFramingError)) t.fail(`case ${c}: ${String(err)}`)
    }
  }
  for (let c = 0; c < CASES; c++) {
    const frames = Array.from({ length: r.int(1, 6) }, () =>
      encodeMuxFrame(r.int(0, 6) as 0, r.int(0, 2 ** 32 - 1), r.bytes(r.next() < 0.05 ? MUX_MAX_PAYLOAD : r.int(0, 700))),
    )
    const parser = new MuxParser()
    const got = r.chunks(Buffer.concat(frames), 4096).flatMap((chunk) => parser.push(chunk))
    const again = got.map((f) => encodeMuxFrame(f.type, f.id, f.payload))
    if (again.length !== frames.length || again.some((b, i) => !b.equals(frames[i] as Buffer))) t.fail(`case ${c}: frames differ`)
  }
  const over = Buffer.alloc(MUX_HEADER_LEN)
  over.writeUInt32BE(2 ** 32 - 1, 5)
  over[0] = 2
  t.throws(() => new MuxParser().push(over), MuxFramingError, 'a payload of 2^32 - 1 is refused from the header alone')
  t.pass(`${2 * CASES} mux inputs`)
  recordFigures('fuzz', { 'mux parser: inputs': 2 * CASES })
})
