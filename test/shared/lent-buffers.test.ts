import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Duplex, PassThrough, type Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { ExitCode } from '../../shared/exit-codes.js'
import { FdReader, lendBuffers, lendingSocket } from '../../shared/lent-buffers.js'
import { createLog } from '../../shared/log.js'
import { pump } from '../../shared/pump.js'

/**
 * The streams that read into lent buffers, over real descriptors: a FIFO
 * fed by `dd` in another process (short reads, real EOF) and a regular
 * file. Each is read both ways: as a plain Readable ('data') and by a
 * borrower that holds its buffers for a while, as the pump does.
 */

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** A FIFO that another process fills with `data`, then closes; its read end (a blocking descriptor, as a Windows stdin is: libuv makes a socket's non-blocking itself). */
function fifoWith(t: Test, data: Buffer): number {
  const dir = t.testdir()
  const fifo = path.join(dir, 'fifo')
  const file = path.join(dir, 'data')
  fs.writeFileSync(file, data)
  execFileSync('mkfifo', [fifo])
  // Small blocks: many short reads, as from a client writing requests.
  const writer = spawn('dd', [`if=${file}`, `of=${fifo}`, 'bs=4096'], { stdio: 'ignore' })
  t.teardown(() => writer.kill())
  return fs.openSync(fifo, 'r') // returns once dd has opened its end
}

function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)))
    stream.once('error', reject)
  })
}

/**
 * A borrower with two buffers that keeps each chunk's buffer for a few ms
 * (a write in flight) and reads no more until it gives one back. Fails the
 * test if a read lands while it said stop, or in a buffer it did not lend
 * once one it lent has been used (before that, what was read ahead comes in
 * the stream's own buffers).
 */
function slowBorrower(t: Test, stream: Readable): Promise<Buffer> {
  const buffers = [Buffer.alloc(8192), Buffer.alloc(8192)]
  const chunks: Buffer[] = []
  let turn = 0
  let stopped = false
  let ownUsed = false
  const lent = lendBuffers(stream, {
    next: () => buffers[turn]!,
    take(n, buffer) {
      if (stopped) t.fail('a read while the borrower said stop')
      if (buffers.some((b) => b === buffer)) ownUsed = true
      else if (ownUsed) t.fail('a read into a buffer the borrower did not lend')
      chunks.push(Buffer.from(buffer.subarray(0, n)))
      turn ^= 1
      if (chunks.length % 3 !== 0) return true
      stopped = true
      setTimeout(() => {
        stopped = false
        stream.resume()
      }, 2)
      return false
    },
  })
  t.ok(lent, 'the stream takes lent buffers')
  stream.resume()
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)))
    stream.once('error', reject)
  })
}

const data = randomBytes(1 << 20)

t.test('lendingSocket on a FIFO: as a plain Readable, byte-exact to EOF', async (t) => {
  const got = await readAll(lendingSocket(fifoWith(t, data)))
  t.equal(got.length, data.length)
  t.equal(sha(got), sha(data), 'identical bytes: each chunk is copied out of the reused buffer')
})

t.test('lendingSocket on a FIFO: into lent buffers, byte-exact to EOF', async (t) => {
  const got = await slowBorrower(t, lendingSocket(fifoWith(t, data)))
  t.equal(sha(got), sha(data), 'identical bytes')
})

t.test('FdReader on a FIFO and on a file: both ways, byte-exact to EOF', async (t) => {
  t.equal(sha(await readAll(new FdReader(fifoWith(t, data)))), sha(data), 'FIFO, plain Readable')
  t.equal(sha(await slowBorrower(t, new FdReader(fifoWith(t, data)))), sha(data), 'FIFO, lent buffers')
  const file = path.join(t.testdir(), 'f')
  fs.writeFileSync(file, data)
  t.equal(sha(await readAll(new FdReader(fs.openSync(file, 'r')))), sha(data), 'file, plain Readable')
  t.equal(sha(await slowBorrower(t, new FdReader(fs.openSync(file, 'r')))), sha(data), 'file, lent buffers')
})

t.test('a stream read from already is not switched over', async (t) => {
  const s = new FdReader(fifoWith(t, data))
  const all = readAll(s)
  t.notOk(lendBuffers(s, { next: () => Buffer.alloc(1), take: () => true }))
  t.equal(sha(await all), sha(data), 'it goes on as a Readable')
  t.notOk(lendBuffers(new PassThrough(), { next: () => Buffer.alloc(1), take: () => true }), 'nor a stream not made there')
})

/**
 * The pump over a lending stdin and a channel that completes each write
 * late and checks that the bytes it was handed did not change meanwhile:
 * a buffer read into again before its write completed would show here.
 */
t.test('pump with a lending stdin: a buffer is not reused before its write completed; nothing lost', async (t) => {
  const big = randomBytes(8 << 20)
  const received: Buffer[] = []
  let changed = 0
  let maxQueued = 0
  const channel = new Duplex({
    highWaterMark: 1 << 30, // never says "drain": only the write callbacks pace the pump
    read() {},
    write(chunk: Buffer, _enc, cb) {
      const seen = sha(chunk)
      maxQueued = Math.max(maxQueued, channel.writableLength)
      setTimeout(() => {
        if (sha(chunk) !== seen) changed++
        received.push(Buffer.from(chunk))
        cb()
      }, 1)
    },
    final(cb) {
      cb()
      this.push(null)
    },
  })
  const stdin = lendingSocket(fifoWith(t, big))
  const code = await pump({ stdin, stdout: new PassThrough() }, channel, { halfClose: true, log: createLog(new PassThrough(), 't', false) })
  t.equal(code, ExitCode.OK)
  t.equal(changed, 0, 'no chunk changed while its write was in flight')
  // Two buffers lent: no more than two chunks wait for the channel, however fast stdin is.
  t.ok(maxQueued <= 2 * 256 * 1024, `at most two buffers' worth waiting on the channel (${maxQueued} bytes)`)
  t.equal(sha(Buffer.concat(received)), sha(big), 'every byte, in order')
})

t.test('pump with a lending stdin: once the session is over, a write completing late does not start stdin again', async (t) => {
  let pending: (() => void)[] = []
  const channel = new Duplex({
    highWaterMark: 1 << 30,
    read() {},
    write(_chunk: Buffer, _enc, cb) {
      // Held until the test lets it go: both buffers stay busy.
      pending.push(cb)
    },
  })
  let writes = 0
  const write = channel.write.bind(channel) as (chunk: Buffer, cb?: () => void) => boolean
  channel.write = ((chunk: Buffer, cb?: () => void) => {
    writes++
    return write(chunk, cb)
  }) as typeof channel.write
  const stdin = lendingSocket(fifoWith(t, randomBytes(4 << 20)))
  const result = pump({ stdin, stdout: new PassThrough() }, channel, { halfClose: true, log: createLog(new PassThrough(), 't', false) })
  while (writes < 2) await new Promise((r) => setTimeout(r, 5))
  channel.push(null) // the server hangs up: the session ends
  await new Promise((r) => setTimeout(r, 20))
  const handed = writes
  // Now let every write complete: each completion frees a buffer stdin would read into.
  for (let i = 0; i < 10; i++) {
    const release = pending
    pending = []
    release.forEach((cb) => cb())
    await new Promise((r) => setTimeout(r, 5))
  }
  t.equal(await result, ExitCode.OK)
  t.equal(handed, 2, 'both buffers were out when the session ended')
  t.equal(writes, handed, 'nothing more read from stdin and written on')
  t.equal(stdin.readableFlowing, false, 'stdin stays paused')
  stdin.destroy()
})

/**
 * A relay may start reading stdin before it hands it to the pump (npiperelay
 * does while it opens the pipe): the read under way then, and whatever it
 * already buffered, must reach the borrower first and in order.
 */
t.test('a stream read ahead (read(0)) is lent all the same: what it read goes first, nothing lost', async (t) => {
  for (const [name, open] of [
    ['FdReader', (fd: number) => new FdReader(fd)],
    ['lendingSocket', (fd: number) => lendingSocket(fd)],
  ] as const) {
    // A read under way, nothing arrived yet: the FIFO's writer starts later.
    const dir = t.testdir()
    const fifo = path.join(dir, `fifo-${name}`)
    execFileSync('mkfifo', [fifo])
    const file = path.join(dir, 'data')
    fs.writeFileSync(file, data)
    const writer = new Promise<void>((resolve) => setTimeout(resolve, 50)).then(() => {
      const dd = spawn('dd', [`if=${file}`, `of=${fifo}`, 'bs=4096'], { stdio: 'ignore' })
      t.teardown(() => dd.kill())
    })
    const fd = await new Promise<number>((resolve) => {
      fs.open(fifo, fs.constants.O_RDONLY, (err, fd) => (err ? t.fail(err.message) : resolve(fd)))
      void writer
    })
    const waiting = open(fd)
    waiting.read(0)
    t.equal(sha(await slowBorrower(t, waiting)), sha(data), `${name}: a read under way when lent`)

    // Data already buffered when lent.
    const buffered = open(fifoWith(t, data))
    buffered.read(0)
    await new Promise((r) => setTimeout(r, 50))
    t.ok(buffered.readableLength > 0, `${name}: bytes wait in the stream's buffer`)
    t.equal(sha(await slowBorrower(t, buffered)), sha(data), `${name}: bytes buffered when lent`)
  }
})

/**
 * The pump pauses stdin when the session finishes; a read parked in the
 * thread pool at that moment must not hand its bytes on afterwards (they
 * would go to a channel being closed). They wait for a resume() instead.
 */
t.test('FdReader: bytes of a read under way when paused wait for resume(), in order', async (t) => {
  const fifo = path.join(t.testdir(), 'fifo')
  execFileSync('mkfifo', [fifo])
  let writer = -1
  const fd = await new Promise<number>((resolve) => {
    fs.open(fifo, fs.constants.O_RDONLY, (err, fd) => (err ? t.fail(err.message) : resolve(fd)))
    setTimeout(() => (writer = fs.openSync(fifo, 'w')), 20)
  })
  const reader = new FdReader(fd)
  const buffer = Buffer.alloc(1024)
  const taken: string[] = []
  t.ok(lendBuffers(reader, { next: () => buffer, take: (n, b) => (taken.push(b.subarray(0, n).toString()), true) }))
  reader.resume()
  await new Promise((r) => setTimeout(r, 20))
  reader.pause()
  fs.writeSync(writer, 'late')
  await new Promise((r) => setTimeout(r, 50))
  t.same(taken, [], 'nothing handed over while paused')
  reader.resume()
  await new Promise((r) => setTimeout(r, 20))
  t.same(taken, ['late'], 'handed over at resume()')
  fs.closeSync(writer)
  reader.destroy()
})
