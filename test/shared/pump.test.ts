import { Duplex, PassThrough } from 'node:stream'
import t from 'tap'
import { ExitCode } from '../../shared/exit-codes.js'
import { createLog } from '../../shared/log.js'
import { pump, type PumpOptions } from '../../shared/pump.js'

/**
 * A fake channel: what the relay writes lands in `sent`, and the test plays
 * the server by pushing into `fromServer`. `writableEnded` tells whether the
 * pump half-closed it.
 */
function fakeChannel() {
  const sent: Buffer[] = []
  const messages: number[] = [] // write sizes, to see zero-length writes
  const channel = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      sent.push(chunk)
      messages.push(chunk.length)
      cb()
    },
  })
  return { channel, sent, messages, reply: (b: Buffer | null) => channel.push(b) }
}

function collect(stream: PassThrough) {
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  return () => Buffer.concat(chunks)
}

function setup(options: Partial<PumpOptions> = {}) {
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out = collect(stdout)
  const err = collect(stderr)
  const fake = fakeChannel()
  const result = pump({ stdin, stdout }, fake.channel, {
    halfClose: false,
    log: createLog(stderr, 'test', true),
    timing: { replyWaitMs: 500, quietMs: 20, idleMs: 100 },
    ...options,
  })
  return { stdin, stdout, out, err, ...fake, result }
}

t.test('socket channel: stdin EOF half-closes, the answer still arrives, channel EOF ends', async (t) => {
  const s = setup({ halfClose: true })
  s.stdin.end(Buffer.from('request'))
  await new Promise((r) => s.channel.once('finish', r))
  t.ok(s.channel.writableEnded, 'channel shut down for writing')
  s.reply(Buffer.from('answer'))
  s.reply(null)
  t.equal(await s.result, ExitCode.OK)
  t.equal(Buffer.concat(s.sent).toString(), 'request')
  t.equal(s.out().toString(), 'answer')
  t.ok(s.stdout.writableEnded, 'stdout ended so the client sees EOF')
})

t.test('channel EOF ends the session without waiting for stdin', async (t) => {
  const s = setup()
  s.stdin.write('ping')
  s.reply(Buffer.from('pong'))
  s.reply(null)
  t.equal(await s.result, ExitCode.OK)
  t.equal(s.out().toString(), 'pong')
})

t.test('-ei with nothing outstanding ends at stdin EOF', async (t) => {
  const s = setup({ exitOnStdinEof: true })
  s.stdin.write('q')
  await new Promise((r) => setImmediate(r))
  s.reply(Buffer.from('a'))
  await new Promise((r) => setImmediate(r))
  s.stdin.end()
  t.equal(await s.result, ExitCode.OK)
  t.equal(s.out().toString(), 'a')
})

t.test('-ei delivers an answer still in flight at stdin EOF', async (t) => {
  const s = setup({ exitOnStdinEof: true })
  s.stdin.end('request') // request and EOF together: npiperelay.exe loses the answer here
  setTimeout(() => s.reply(Buffer.from('late ')), 100)
  setTimeout(() => s.reply(Buffer.from('answer')), 110)
  t.equal(await s.result, ExitCode.OK)
  t.equal(s.out().toString(), 'late answer')
})

t.test('-ei gives up on an answer that never comes after replyWaitMs', async (t) => {
  const s = setup({ exitOnStdinEof: true })
  const started = Date.now()
  s.stdin.end('request')
  t.equal(await s.result, ExitCode.OK)
  t.ok(Date.now() - started >= 450, 'waited for the answer first')
})

t.test('-s runs after the last stdin byte: a zero-length write', async (t) => {
  const s = setup({ exitOnStdinEof: true, onStdinEnd: (c) => c.write(Buffer.alloc(0)) })
  s.stdin.end('abc')
  setTimeout(() => s.reply(Buffer.from('x')), 20)
  t.equal(await s.result, ExitCode.OK)
  t.same(s.messages, [3, 0], 'data, then the zero-length message')
})

t.test('pipe without -ei/-ep: after stdin EOF, a silent channel ends after idleMs', async (t) => {
  const s = setup()
  s.stdin.write('req')
  setTimeout(() => s.reply(Buffer.from('rep')), 10)
  setTimeout(() => s.stdin.end(), 30)
  t.equal(await s.result, ExitCode.OK)
  t.equal(s.out().toString(), 'rep')
  t.match(s.err().toString(), /quiet for 100 ms/)
})

t.test('-ep without -ei waits for the channel EOF however long', async (t) => {
  const s = setup({ exitOnChannelEof: true })
  s.stdin.end()
  let done = false
  void s.result.then(() => (done = true))
  await new Promise((r) => setTimeout(r, 300)) // three idle periods
  t.notOk(done, 'still relaying')
  s.reply(Buffer.from('late'))
  s.reply(null)
  t.equal(await s.result, ExitCode.OK)
  t.equal(s.out().toString(), 'late')
})

t.test('channel error: exit 1 with a message; closed-by-peer errors are a normal end', async (t) => {
  const s = setup()
  s.channel.destroy(Object.assign(new Error('boom'), { code: 'EIO' }))
  t.equal(await s.result, ExitCode.ERROR)
  t.match(s.err().toString(), /channel failed: boom/)

  const r = setup()
  r.channel.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))
  t.equal(await r.result, ExitCode.OK)
})

t.test('stdin error: exit 1; stdin reset by the client, stdout closed by the reader: exit 0', async (t) => {
  const s = setup()
  s.stdin.destroy(new Error('read failed'))
  t.equal(await s.result, ExitCode.ERROR)
  t.match(s.err().toString(), /reading stdin failed: read failed/)

  const reset = setup()
  reset.stdin.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
  t.equal(await reset.result, ExitCode.OK, 'a client that left is not an error')
  t.notMatch(reset.err().toString(), /failed/, 'and no failure is reported')

  const r = setup()
  r.stdout.destroy(Object.assign(new Error('broken'), { code: 'EPIPE' }))
  t.equal(await r.result, ExitCode.OK)
})

t.test('backpressure: a slow stdout pauses the channel, nothing is lost', async (t) => {
  const stdin = new PassThrough()
  const stdout = new PassThrough({ highWaterMark: 16 })
  const fake = fakeChannel()
  const result = pump({ stdin, stdout }, fake.channel, {
    halfClose: true,
    log: createLog(new PassThrough(), 't', false),
  })
  const total = 1 << 20
  for (let i = 0; i < total / 4096; i++) fake.reply(Buffer.alloc(4096, i & 0xff))
  fake.reply(null)
  let received = 0
  stdout.on('readable', () => {
    let c: Buffer | null
    while ((c = stdout.read() as Buffer | null)) received += c.length
  })
  t.equal(await result, ExitCode.OK)
  await new Promise((r) => setImmediate(r))
  t.equal(received, total)
})

t.test('stdin that ended before the pump started still counts as EOF', async (t) => {
  const stdin = new PassThrough()
  stdin.end()
  stdin.resume()
  await new Promise((r) => setImmediate(r))
  t.ok(stdin.readableEnded)
  const stdout = new PassThrough()
  const fake = fakeChannel()
  const result = pump({ stdin, stdout }, fake.channel, { halfClose: true, log: createLog(new PassThrough(), 't', false) })
  await new Promise((r) => fake.channel.once('finish', r))
  fake.reply(null)
  t.equal(await result, ExitCode.OK)
})

t.test('requestTimeoutMs: a channel that stops answering ends the session with exit 6', async (t) => {
  const s = setup({ halfClose: true, requestTimeoutMs: 60 })
  s.stdin.write(Buffer.from('first'))
  await new Promise((r) => setTimeout(r, 30))
  s.reply(Buffer.from('answer 1'))
  // Answers keep resetting the clock: 3 × 30 ms of exchanges outlast the limit.
  for (let i = 0; i < 3; i++) {
    s.stdin.write(Buffer.from('again'))
    await new Promise((r) => setTimeout(r, 30))
    s.reply(Buffer.from('.'))
  }
  s.stdin.write(Buffer.from('stalls'))
  t.equal(await s.result, ExitCode.TIMEOUT)
  t.equal(s.out().toString(), 'answer 1...', 'every answer that came was delivered')
  t.match(s.err(), /no answer within 0\.06 s \(--request-timeout\); ending the connection/)
  t.ok(s.channel.destroyed, 'the stalled channel is closed')
})

t.test('requestTimeoutMs does not fire while nothing is asked', async (t) => {
  const s = setup({ halfClose: true, requestTimeoutMs: 30 })
  await new Promise((r) => setTimeout(r, 100))
  s.stdin.end()
  s.reply(null)
  t.equal(await s.result, ExitCode.OK)
})
