/**
 * Property tests with seeded random input: the agent-frame parser, the
 * message relay every agent-aware relay runs on stdin (pageant-relay,
 * --agent), the byte pump every byte relay runs, and the mux parser. Random
 * chunking, random bytes, and the lengths that matter: 0, 1, the limit, the
 * limit + 1 and 2^32 - 1. No crash, no hang, nothing lost, memory bounded.
 * And constrained adds under --constraints emulate: well-formed ones reach
 * the agent without their constraints, malformed ones never reach it.
 */
import { Duplex, PassThrough, Readable } from 'node:stream'
import t, { type Test } from 'tap'
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
import { EmulatedAgent } from '../../shared/agent/emulated-agent.js'
import { withEmulation } from '../../shared/agent/emulation.js'
import { markSharedProcess } from '../../shared/agent/process-scope.js'
import { wireString, wireUint32 } from '../../shared/agent/wire-reader.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { createLog } from '../../shared/log.js'
import { MUX_HEADER_LEN, MUX_MAX_PAYLOAD, MuxFramingError, MuxParser, encodeMuxFrame } from '../../shared/mux/mux-frames.js'
import { pump } from '../../shared/pump.js'
import { recordFigures } from '../../lab/figures.js'
import { type Random, seededRandom } from '../fixtures/random.js'

/** RELAYKIT_FUZZ_CASES, default 2000; anything but a whole number >= 1 is a mistake, not "run nothing". */
function fuzzCases(value = process.env.RELAYKIT_FUZZ_CASES): number {
  if (value === undefined) return 2000
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`RELAYKIT_FUZZ_CASES must be a whole number >= 1, not ${JSON.stringify(value)}`)
  }
  return n
}

const CASES = fuzzCases()
const silent = () => createLog(new PassThrough(), 'fuzz', false)

/**
 * What went wrong in a loop of cases, asserted once at the end: the
 * assertion fails when any case did, and shows the first few.
 */
function problems(t: Test) {
  const found: string[] = []
  return {
    add: (what: string) => void found.push(what),
    assertNone: (summary: string) => t.same(found.slice(0, 5), [], `${summary}: ${found.length} case(s) wrong`),
  }
}

/** A random valid message of at most `max` bytes after the length field. */
function randomFrame(r: Random, max: number): Buffer {
  const size = r.next() < 0.1 ? r.pick([1, max]) : r.int(1, Math.min(max, 2048))
  return encodeFrame(r.int(0, 255), r.bytes(size - 1))
}

function throwsFrameError(fn: () => unknown): boolean {
  try {
    fn()
    return false
  } catch (err) {
    return err instanceof FrameError
  }
}

/** A header claiming `length`, then up to 64 bytes of whatever. */
function header(length: number, r: Random): Buffer {
  const b = Buffer.alloc(HEADER_LEN)
  b.writeUInt32BE(length)
  return Buffer.concat([b, r.bytes(r.int(0, 64))])
}

t.test('frame parser: random valid streams in random chunks come out whole and in order', async (t) => {
  const r = seededRandom(t)
  const wrong = problems(t)
  let frames = 0
  for (let c = 0; c < CASES; c++) {
    const maxLength = r.pick([1, 2, 17, 300, AGENT_MAX_LEN])
    const parser = new FrameParser({ maxLength })
    const sent = Array.from({ length: r.int(1, 12) }, () => randomFrame(r, maxLength))
    const got: AgentFrame[] = []
    for (const chunk of r.chunks(Buffer.concat(sent), r.pick([1, 3, 64, 100_000]))) {
      got.push(...parser.push(chunk))
      if (parser.buffered > maxLength + HEADER_LEN - 1) wrong.add(`case ${c}: holds ${parser.buffered} bytes`)
    }
    if (got.length !== sent.length || got.some((f, i) => !f.bytes.equals(sent[i] as Buffer) || f.type !== sent[i]?.[HEADER_LEN])) {
      wrong.add(`case ${c}: ${got.length} frames out, ${sent.length} in, or their bytes differ`)
    }
    frames += got.length
  }
  wrong.assertNone(`${CASES} streams, ${frames} messages, all intact`)
  recordFigures('fuzz', { 'frame parser: valid streams': CASES, 'frame parser: messages checked': frames })
})

t.test('frame parser: random bytes never crash, never exceed the bound, fail once and stay failed', async (t) => {
  const r = seededRandom(t)
  const wrong = problems(t)
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
            wrong.add(`case ${c}: a message that is not the input's next bytes, or out of bounds`)
          }
          taken += f.bytes.length
        }
      } catch (err) {
        if (!(err instanceof FrameError)) throw err
        for (const f of err.complete) taken += f.bytes.length
        failed = true
        if (!throwsFrameError(() => parser.push(Buffer.from([0])))) wrong.add(`case ${c}: usable again after failing`)
        break
      }
      if (parser.buffered > maxLength + HEADER_LEN - 1) wrong.add(`case ${c}: holds ${parser.buffered} bytes`)
    }
    if (failed) failures++
  }
  wrong.assertNone(`${CASES} random inputs, ${failures} rejected as malformed, none crashed`)
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

interface AgentCall {
  /** The request as the agent received it. */
  request: Buffer
  /** What the agent answered; undefined if it failed instead. */
  answer?: Buffer
}

/**
 * A channel that answers each whole agent message after a random pause, or
 * (one time in 20) fails; `calls` records what it was asked and answered,
 * so the relay's output can be compared with what the agent itself said.
 */
function fakeAgent(r: Random, answer: (f: AgentFrame) => Buffer) {
  const calls: AgentCall[] = []
  const query = async (request: AgentFrame) => {
    const call: AgentCall = { request: Buffer.from(request.bytes) }
    calls.push(call)
    if (r.next() < 0.3) await new Promise((res) => setImmediate(res))
    if (r.next() < 0.05) throw new Error('the agent went away')
    call.answer = answer(request)
    return frameOf(call.answer)
  }
  return { calls, query }
}

t.test('agent relay stdin: random messages, chunks and garbage; answers in order, exit 0 or 5', async (t) => {
  const r = seededRandom(t)
  const wrong = problems(t)
  const cases = Math.ceil(CASES / 4)
  let requests = 0
  let failedByAgent = 0
  for (let c = 0; c < cases; c++) {
    const sent = Array.from({ length: r.int(0, 10) }, () => randomFrame(r, 4096))
    const garbage = r.next() < 0.3
    const tail = garbage ? header(r.pick([0, AGENT_MAX_LEN + 1, 2 ** 32 - 1, r.int(AGENT_MAX_LEN + 2, 2 ** 32 - 2)]), r) : Buffer.alloc(0)
    const stdin = new PassThrough()
    const stdout = new PassThrough()
    const out: Buffer[] = []
    stdout.on('data', (d: Buffer) => out.push(d))
    const agent = fakeAgent(r, (f) => encodeFrame(f.type ^ 0xff, f.bytes.subarray(HEADER_LEN + 1, HEADER_LEN + 9)))
    const result = relayAgent({ stdin, stdout }, agent.query, { log: silent(), maxQueued: r.int(1, 8) })
    for (const chunk of r.chunks(Buffer.concat([...sent, tail]), r.pick([1, 5, 333, 10_000]))) stdin.write(chunk)
    stdin.end()
    const code = await result
    // A request the agent failed is answered FAILURE, and the session's exit code says so (1: no code of its own).
    const agentFailed = agent.calls.some((call) => call.answer === undefined)
    if (code !== (garbage ? ExitCode.PROTOCOL : agentFailed ? ExitCode.ERROR : ExitCode.OK)) wrong.add(`case ${c}: exit ${code}`)
    // Each request reached the agent once, intact and in order; each answer
    // is the agent's own, and FAILURE exactly where the agent failed.
    const { calls } = agent
    if (calls.length !== sent.length || calls.some((call, i) => !call.request.equals(sent[i] as Buffer))) {
      wrong.add(`case ${c}: the agent was asked ${calls.length} request(s), not the ${sent.length} sent, or not as sent`)
    }
    const answers = new FrameParser().push(Buffer.concat(out))
    if (answers.length !== sent.length) wrong.add(`case ${c}: ${answers.length} answers to ${sent.length} requests`)
    answers.forEach((a, i) => {
      const expected = calls[i]?.answer ?? AGENT_FAILURE_FRAME
      if (!a.bytes.equals(expected)) wrong.add(`case ${c}: answer ${i} is not what the agent answered`)
    })
    requests += sent.length
    failedByAgent += calls.filter((call) => call.answer === undefined).length
  }
  wrong.assertNone(`${cases} sessions, ${requests} requests (${failedByAgent} failed by the agent), each answered with the agent's answer, in order`)
  // The comparison covered both kinds of answer (with fewer than 200
  // requests, RELAYKIT_FUZZ_CASES below ~80, none may have failed by chance).
  t.ok(failedByAgent < requests / 5 && (requests < 200 || failedByAgent > 0), `the agent failed some requests, not most (${failedByAgent} of ${requests})`)
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
  const wrong = problems(t)
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
    const code = await result
    if (code !== ExitCode.OK || !Buffer.concat(out).equals(data)) wrong.add(`case ${c}: exit ${code}, ${Buffer.concat(out).length} of ${data.length} bytes, or different ones`)
    bytes += data.length
  }
  wrong.assertNone(`${cases} streams, ${bytes} bytes, all byte-exact`)
  recordFigures('fuzz', { 'byte pump: streams': cases })
})

t.test('mux parser: random bytes and random splits of valid frames', async (t) => {
  const r = seededRandom(t)
  const wrong = problems(t)
  for (let c = 0; c < CASES; c++) {
    const parser = new MuxParser()
    try {
      for (const chunk of r.chunks(r.bytes(r.int(0, 2048)), 300)) parser.push(chunk)
    } catch (err) {
      if (!(err instanceof MuxFramingError)) wrong.add(`random case ${c}: ${String(err)}`)
    }
  }
  for (let c = 0; c < CASES; c++) {
    const frames = Array.from({ length: r.int(1, 6) }, () =>
      encodeMuxFrame(r.int(0, 6) as 0, r.int(0, 2 ** 32 - 1), r.bytes(r.next() < 0.05 ? MUX_MAX_PAYLOAD : r.int(0, 700))),
    )
    const parser = new MuxParser()
    const got = r.chunks(Buffer.concat(frames), 4096).flatMap((chunk) => parser.push(chunk))
    const again = got.map((f) => encodeMuxFrame(f.type, f.id, f.payload))
    if (again.length !== frames.length || again.some((b, i) => !b.equals(frames[i] as Buffer))) wrong.add(`valid case ${c}: frames differ`)
  }
  const over = Buffer.alloc(MUX_HEADER_LEN)
  over.writeUInt32BE(2 ** 32 - 1, 5)
  over[0] = 2
  t.throws(() => new MuxParser().push(over), MuxFramingError, 'a payload of 2^32 - 1 is refused from the header alone')
  wrong.assertNone(`${CASES} random and ${CASES} valid mux inputs`)
  recordFigures('fuzz', { 'mux parser: inputs': 2 * CASES })
})

/**
 * A constrained add of a random key shape (ed25519, ecdsa, rsa fields of
 * random sizes) and comment: the bytes up to and including the comment.
 */
function randomKeyPart(r: Random): Buffer {
  const field = () => wireString(r.bytes(r.int(0, 80)))
  const shapes: [string, number][] = [['ssh-ed25519', 2], ['ecdsa-sha2-nistp256', 3], ['ssh-rsa', 6], ['ssh-dss', 5]]
  const [type, fields] = r.pick(shapes)
  return Buffer.concat([wireString(type), ...Array.from({ length: fields }, field), wireString(r.bytes(r.int(0, 30)))])
}

/** Constraints relaykit enforces, each at most once, in random order. */
function validConstraints(r: Random): Buffer {
  const parts = [Buffer.concat([Buffer.from([1]), wireUint32(r.int(1, 2 ** 31))]), Buffer.from([2])].filter(() => r.next() < 0.6)
  return Buffer.concat(r.next() < 0.5 ? parts : parts.reverse())
}

/** What makes a constrained add one relaykit must refuse, applied to a valid one. */
const SPOILERS: Record<string, (r: Random, key: Buffer, tail: Buffer) => Buffer> = {
  'truncated key part': (r, key) => key.subarray(0, r.int(0, key.length - 1)),
  'truncated lifetime': (r, key, tail) => Buffer.concat([key, tail, Buffer.from([1]), r.bytes(r.int(0, 3))]),
  'unknown constraint id': (r, key, tail) => Buffer.concat([key, tail, Buffer.from([r.pick([0, 4, 5, 100, 254])]), r.bytes(r.int(0, 20))]),
  'extension (255 or 3) with any name and data': (r, key, tail) =>
    Buffer.concat([key, tail, Buffer.from([r.pick([255, 3])]), wireString(r.next() < 0.5 ? 'restrict-destination-v00@openssh.com' : r.bytes(r.int(0, 40))), r.bytes(r.int(0, 40))]),
  'extension whose name overruns the message': (r, key, tail) => Buffer.concat([key, tail, Buffer.from([255]), wireUint32(r.int(1, 2 ** 32 - 1))]),
  'a constraint given twice': (r, key, tail) => Buffer.concat([key, tail, r.next() < 0.5 ? Buffer.from([2, 2]) : Buffer.from([1, 0, 0, 0, 1, 1, 0, 0, 0, 2])]),
  // The second string of the add (the first key field, or the PIN) claims more than the whole message.
  'a field claiming more than is left': (r, key, tail) => {
    const at = 4 + key.readUInt32BE(0)
    return Buffer.concat([key.subarray(0, at), wireUint32(r.int(key.length + tail.length, 2 ** 32 - 1)), key.subarray(at + 4), tail])
  },
  'random bytes': (r) => r.bytes(r.int(0, 200)),
}

t.test('--constraints emulate: random and malformed constrained adds; valid ones reach the agent unconstrained, the rest never do', async (t) => {
  const r = seededRandom(t)
  const wrong = problems(t)
  markSharedProcess()
  const asked: Buffer[] = []
  const upstream = async (request: AgentFrame) => {
    asked.push(Buffer.from(request.bytes))
    return frameOf(encodeFrame(6))
  }
  const agent = new EmulatedAgent(() => ({ query: upstream, close() {} }))
  const options = { constraints: true, lock: false, confirm: 'off' as const, confirmTimeoutMs: 1000, askpass: undefined }
  const query = withEmulation(upstream, { options, agent, log: silent(), env: {} })
  const cases = Math.ceil(CASES / 2)
  const kinds = Object.keys(SPOILERS)
  let valid = 0
  for (let c = 0; c < cases; c++) {
    const key = randomKeyPart(r)
    const tail = validConstraints(r)
    const type = r.pick([25, 26])
    const spoiled = r.next() < 0.7 ? r.pick(kinds) : undefined
    // A smartcard add's key part is reader id + PIN: two strings.
    const head = type === 26 ? Buffer.concat([wireString(r.bytes(r.int(0, 30))), wireString(r.bytes(r.int(0, 8)))]) : key
    const body = spoiled ? (SPOILERS[spoiled] as (r: Random, k: Buffer, t: Buffer) => Buffer)(r, head, tail) : Buffer.concat([head, tail])
    asked.length = 0
    let answer: AgentFrame
    try {
      answer = await query(frameOf(encodeFrame(type, body)))
    } catch (err) {
      wrong.add(`case ${c} (${spoiled ?? 'valid'}): threw ${String(err)}`)
      continue
    }
    if (spoiled) {
      if (answer.type !== 5) wrong.add(`case ${c} (${spoiled}): answered ${answer.type}, not FAILURE`)
      if (asked.length !== 0) wrong.add(`case ${c} (${spoiled}): ${asked.length} request(s) reached the agent`)
      continue
    }
    valid++
    const add = asked.find((a) => a[HEADER_LEN] === (type === 25 ? 17 : 20))
    if (answer.type !== 6) wrong.add(`case ${c} (valid): answered ${answer.type}`)
    if (!add || !add.subarray(HEADER_LEN + 1).equals(head)) wrong.add(`case ${c} (valid): the agent did not get the add without its constraints`)
  }
  agent.forgetAll()
  wrong.assertNone(`${cases} constrained adds (${valid} valid), each refused untouched or sent on without constraints`)
  t.ok(valid > 0 && valid < cases, 'both kinds were tried')
  recordFigures('fuzz', { 'constrained adds': cases })
})
