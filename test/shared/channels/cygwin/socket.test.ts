import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { connectCygwin, cygwinRetryable, detectCygwinVariant } from '../../../../shared/channels/cygwin/client.js'
import {
  CREDENTIALS_LEN,
  type CygwinVariant,
  decodeCredentials,
  encodeCredentials,
  formatCygwinSocketFile,
  parseCygwinSocketFile,
} from '../../../../shared/channels/cygwin/format.js'
import { type CygwinServer, listenCygwin } from '../../../../shared/channels/cygwin/server.js'
import { ExitCode } from '../../../../shared/exit-codes.js'
import type { Log } from '../../../../shared/log.js'
import { shortTempDir } from '../../../../lab/temp-dir.js'

const variants: CygwinVariant[] = ['cygwin', 'libassuan']
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

// ---------------------------------------------------------------------------
// An independent implementation, written from the format description alone
// (Cygwin's fhandler/socket_local.cc, libassuan's assuan-socket.c) with plain
// `net`, so that our module is checked against something it did not write.
//
//   file:   "!<socket >PORT s W0-W1-W2-W3\0", Wn = 32-bit words in hex
//   wire:   secret = W0..W3, each little-endian (16 bytes)
//   cygwin:    C→S secret, S→C secret, C→S pid uid gid (3×u32 LE), S→C same
//   libassuan: C→S secret, S→C secret, C→S pid + 4 bytes, S→C own pid + those 4 bytes
// ---------------------------------------------------------------------------

function plainSecret(words: number[]): Buffer {
  const b = Buffer.alloc(16)
  words.forEach((w, i) => b.writeUInt32LE(w, i * 4))
  return b
}

function plainParse(file: string): { port: number; secret: Buffer } {
  const m = /^!<socket >(\d+) s ([0-9a-f]{8})-([0-9a-f]{8})-([0-9a-f]{8})-([0-9a-f]{8})\0$/i.exec(
    fs.readFileSync(file, 'latin1'),
  )
  if (!m) throw new Error(`plainParse: cannot read ${file}`)
  return { port: Number(m[1]), secret: plainSecret(m.slice(2, 6).map((h) => parseInt(h, 16))) }
}

/** Receives everything; `until(n)` waits for n bytes in total, `ended` for EOF. */
class Collector {
  buf = Buffer.alloc(0)
  private waiters: { n: number; resolve: () => void }[] = []
  readonly ended: Promise<Buffer>
  constructor(socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d])
      this.waiters = this.waiters.filter((w) => (this.buf.length >= w.n ? (w.resolve(), false) : true))
    })
    this.ended = new Promise((resolve) => {
      socket.on('close', () => resolve(this.buf))
      socket.on('error', () => {})
    })
  }
  until(n: number): Promise<void> {
    if (this.buf.length >= n) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ n, resolve }))
  }
}

/** Write `bytes` in pieces cut at `cuts` (positions), pausing between them so each is its own segment. */
async function writePieces(socket: net.Socket, bytes: Buffer, cuts: number[]): Promise<void> {
  const points = [...new Set([0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length])].sort((a, b) => a - b)
  for (let i = 0; i + 1 < points.length; i++) {
    if (i > 0) await sleep(3)
    socket.write(bytes.subarray(points[i], points[i + 1]))
  }
}

const everyByte = (len: number) => Array.from({ length: len - 1 }, (_, i) => i + 1)

const plainServerCreds = { pid: 4242, uid: 1001, gid: 513 }

interface PlainServerOptions {
  variant: CygwinVariant
  /** Sent right after the server's credentials, in the same write (before any request). */
  greeting?: Buffer
  /** Where to cut the answer (echo + credentials + greeting); it is also cut where the credentials start. */
  cuts?: number[]
  /** Send back 16 other bytes instead of the secret. */
  badEcho?: boolean
  /** Echo the stream after the handshake (default); otherwise only record it. */
  echo?: boolean
  /** Like gpg-agent given a request it cannot parse: hang up on the first stream byte. */
  hangUpOnStream?: boolean
  /** Send FIN right after the answer (and greeting). */
  endAfterAnswer?: boolean
}

/** A Cygwin (or libassuan) socket server; after the handshake it echoes the stream. */
async function plainServer(t: Test, dir: string, o: PlainServerOptions) {
  const words = [0, 1, 2, 3].map(() => randomBytes(4).readUInt32BE(0))
  const secret = plainSecret(words)
  const credLen = o.variant === 'cygwin' ? 12 : 8
  const seen: { secret: Buffer; creds?: Buffer; stream: Buffer }[] = []
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    c.setNoDelay(true)
    c.on('error', () => {})
    const record: { secret: Buffer; creds?: Buffer; stream: Buffer } = { secret: Buffer.alloc(0), stream: Buffer.alloc(0) }
    seen.push(record)
    let buf = Buffer.alloc(0)
    let state: 'secret' | 'creds' | 'stream' = 'secret'
    let sending = Promise.resolve()
    let answer = Buffer.alloc(0)
    const send = (from: number, to: number) => {
      const part = answer.subarray(from, to)
      const cuts = (o.cuts ?? []).filter((x) => x > from && x < to).map((x) => x - from)
      sending = sending.then(() => writePieces(c, part, cuts))
    }
    c.on('data', (d: Buffer) => {
      if (state === 'stream' && o.hangUpOnStream) return void sending.then(() => c.destroy())
      if (state === 'stream') {
        record.stream = Buffer.concat([record.stream, d])
        if (o.echo !== false) sending = sending.then(() => void c.write(d))
        return
      }
      buf = Buffer.concat([buf, d])
      if (state === 'secret' && buf.length >= 16) {
        record.secret = buf.subarray(0, 16)
        buf = buf.subarray(16)
        if (!record.secret.equals(secret)) return void c.destroy()
        state = 'creds'
        answer = Buffer.alloc(16 + credLen)
        ;(o.badEcho ? randomBytes(16) : secret).copy(answer, 0)
        send(0, 16)
      }
      if (state === 'creds' && buf.length >= credLen) {
        record.creds = buf.subarray(0, credLen)
        buf = buf.subarray(credLen)
        state = 'stream'
        answer.writeUInt32LE(plainServerCreds.pid, 16)
        if (o.variant === 'cygwin') {
          answer.writeUInt32LE(plainServerCreds.uid, 20)
          answer.writeUInt32LE(plainServerCreds.gid, 24)
        } else {
          record.creds.copy(answer, 20, 4, 8) // libassuan: the client's bytes 4..7 go back unchanged
        }
        answer = Buffer.concat([answer, o.greeting ?? Buffer.alloc(0)])
        send(16, answer.length)
        if (o.endAfterAnswer) sending = sending.then(() => void c.end())
        if (buf.length > 0 && o.hangUpOnStream) sending = sending.then(() => void c.destroy())
        else if (buf.length > 0) {
          const first = buf
          record.stream = Buffer.concat([record.stream, first])
          if (o.echo !== false) sending = sending.then(() => void c.write(first))
        }
      }
    })
    c.on('end', () => void sending.then(() => c.end()))
  })
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r))
  const port = (server.address() as net.AddressInfo).port
  const file = path.join(dir, `plain-${o.variant}`)
  // Upper-case hex, as some writers use; Cygwin writes lower case.
  const hex = words.map((w) => w.toString(16).padStart(8, '0').toUpperCase()).join('-')
  fs.writeFileSync(file, `!<socket >${port} s ${hex}\0`, 'latin1')
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { file, port, secret, seen, server }
}

interface PlainClientOptions {
  variant: CygwinVariant
  data: Buffer
  /** Send secret, credentials and data without waiting for answers, cut at these positions. */
  pipelined?: { cuts: number[] }
  secret?: Buffer
}

const plainClientCreds = { pid: 777, uid: 1001, gid: 513 }

function plainClientCredBytes(variant: CygwinVariant): Buffer {
  const b = Buffer.alloc(variant === 'cygwin' ? 12 : 8)
  b.writeUInt32LE(plainClientCreds.pid, 0)
  if (variant === 'cygwin') {
    b.writeUInt32LE(plainClientCreds.uid, 4)
    b.writeUInt32LE(plainClientCreds.gid, 8)
  } else {
    b.writeUInt16LE(plainClientCreds.uid, 4)
    b.writeUInt16LE(plainClientCreds.gid, 6)
  }
  return b
}

/** A client; returns every byte the server sent until it closed (answer + stream). */
async function plainClient(file: string, o: PlainClientOptions): Promise<Buffer> {
  const { port, secret } = plainParse(file)
  const mySecret = o.secret ?? secret
  const creds = plainClientCredBytes(o.variant)
  const c = net.connect({ host: '127.0.0.1', port })
  c.setNoDelay(true)
  const got = new Collector(c)
  await new Promise((r) => c.once('connect', r))
  if (o.pipelined) {
    await writePieces(c, Buffer.concat([mySecret, creds, o.data]), o.pipelined.cuts)
  } else {
    c.write(mySecret)
    await Promise.race([got.until(16), got.ended])
    c.write(creds)
    await Promise.race([got.until(16 + creds.length), got.ended])
    c.write(o.data)
  }
  c.end()
  return got.ended
}

function captureLog(): Log & { lines: string[] } {
  const lines: string[] = []
  return { verbose: true, lines, error: (m) => lines.push(`error: ${m}`), debug: (m) => lines.push(`debug: ${m}`) }
}

/** Listen with our module; each connection echoes its stream. */
async function ourServer(t: Test, dir: string, variant: CygwinVariant, log?: Log) {
  const file = path.join(dir, `ours-${variant}`)
  const peers: { pid: number; uid: number; gid: number }[] = []
  const streams: Buffer[] = []
  const server = await serving(listenCygwin(
    file,
    (s, peer) => {
      peers.push(peer)
      s.on('error', () => {})
      const i = streams.push(Buffer.alloc(0)) - 1
      s.on('data', (d: Buffer) => (streams[i] = Buffer.concat([streams[i] ?? Buffer.alloc(0), d])))
      s.pipe(s)
    },
    { variant, ...(log ? { log } : {}) },
  ))
  t.teardown(() => server.close())
  return { file, server, peers, streams }
}

/** Read from our client's socket until `n` bytes arrived. */
function readN(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (buf.length >= n) {
        socket.removeListener('data', onData)
        socket.pause()
        resolve(buf)
      }
    }
    socket.on('data', onData)
    socket.resume() // a 'data' listener alone does not restart a stream paused before
    socket.once('error', reject)
    socket.once('end', () => resolve(buf))
  })
}

// --- the file --------------------------------------------------------------

t.test('parse and format round-trip', async (t) => {
  for (let i = 0; i < 100; i++) {
    const port = 1 + Math.floor(Math.random() * 65535)
    const secret = randomBytes(16)
    const bytes = formatCygwinSocketFile(port, secret)
    if (!/^!<socket >\d+ s [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}\0$/.test(bytes.toString('latin1'))) {
      return t.fail(`format: ${JSON.stringify(bytes.toString('latin1'))}`)
    }
    const parsed = parseCygwinSocketFile(bytes, 'f')
    if (parsed.port !== port || !parsed.secret.equals(secret)) return t.fail(`round trip ${port} ${secret.toString('hex')}`)
  }
  t.pass('100 random files: lower-case hex, NUL-terminated, read back the same')
})

t.test('a known file: each word is sent little-endian; hex in either case; NUL optional', async (t) => {
  const wire = 'ddccbbaaaabbccdd67452301debc0a89'
  for (const text of [
    '!<socket >12345 s aabbccdd-ddccbbaa-01234567-890abcde\0',
    '!<socket >12345 s AABBCCDD-DDCCBBAA-01234567-890ABCDE\0',
    '!<socket >12345 s aabbccdd-ddccbbaa-01234567-890abcde',
    '!<socket >12345 s aabbccdd-ddccbbaa-01234567-890abcde\r\n',
  ]) {
    const { port, secret } = parseCygwinSocketFile(Buffer.from(text, 'latin1'), 'f')
    t.equal(port, 12345)
    t.equal(secret.toString('hex'), wire, JSON.stringify(text))
  }
  t.equal(
    formatCygwinSocketFile(12345, Buffer.from(wire, 'hex')).toString('latin1'),
    '!<socket >12345 s aabbccdd-ddccbbaa-01234567-890abcde\0',
  )
})

t.test('malformed files: clear errors', async (t) => {
  const secret = 'aabbccdd-ddccbbaa-01234567-890abcde'
  const cases: [string, Buffer, number, RegExp][] = [
    ['empty (being written)', Buffer.alloc(0), ExitCode.UNAVAILABLE, /is empty/],
    [
      'libassuan format',
      Buffer.concat([Buffer.from('51234\n'), randomBytes(16)]),
      ExitCode.PROTOCOL,
      /libassuan one \(a port, a newline and a 16-byte nonce/,
    ],
    ['no marker', Buffer.from('hello world'), ExitCode.PROTOCOL, /must start with "!<socket >"/],
    ['datagram d', Buffer.from(`!<socket >12345 d ${secret}\0`), ExitCode.PROTOCOL, /datagram socket \(type "d"\)/],
    ['datagram D', Buffer.from(`!<socket >12345 D ${secret}\0`), ExitCode.PROTOCOL, /datagram socket \(type "D"\)/],
    ['unknown type', Buffer.from(`!<socket >12345 - ${secret}\0`), ExitCode.PROTOCOL, /unknown socket type "-"/],
    [
      'MSYS 1.0, no type',
      Buffer.from('!<socket >59108 282F93E1-9E2D051A-46B57EFC-64A1852F'),
      ExitCode.PROTOCOL,
      /old-style socket file with no socket type after the port \(MSYS 1\.0/,
    ],
    ['port 0', Buffer.from(`!<socket >0 s ${secret}\0`), ExitCode.PROTOCOL, /port 0 is not a TCP port/],
    ['port 65536', Buffer.from(`!<socket >65536 s ${secret}\0`), ExitCode.PROTOCOL, /port 65536 is not a TCP port/],
    ['port 123456', Buffer.from(`!<socket >123456 s ${secret}\0`), ExitCode.PROTOCOL, /not a TCP port/],
    ['port not a number', Buffer.from(`!<socket >ssh s ${secret}\0`), ExitCode.PROTOCOL, /expected "!<socket >PORT s/],
    ['short word', Buffer.from('!<socket >12345 s aabbccd-ddccbbaa-01234567-890abcde\0'), ExitCode.PROTOCOL, /four 8-digit hex/],
    ['three words', Buffer.from('!<socket >12345 s aabbccdd-ddccbbaa-01234567\0'), ExitCode.PROTOCOL, /four 8-digit hex/],
    ['not hex', Buffer.from('!<socket >12345 s aabbccdd-ddccbbaa-01234567-890abcdg\0'), ExitCode.PROTOCOL, /four 8-digit hex/],
    ['junk after', Buffer.from(`!<socket >12345 s ${secret} extra\0`), ExitCode.PROTOCOL, /four 8-digit hex/],
    ['no secret', Buffer.from('!<socket >12345 s \0'), ExitCode.PROTOCOL, /expected "!<socket >PORT s XXXXXXXX-/],
  ]
  for (const [what, bytes, exitCode, message] of cases) {
    t.throws(() => parseCygwinSocketFile(bytes, '/x/S.sock'), { exitCode, message }, what)
  }
  t.throws(() => formatCygwinSocketFile(0, randomBytes(16)), RangeError)
  t.throws(() => formatCygwinSocketFile(80, randomBytes(15)), RangeError)
})

t.test('credential layouts', async (t) => {
  const c = { pid: 0x01020304, uid: 197609, gid: 197121 }
  t.equal(encodeCredentials(c, 'cygwin').toString('hex'), '04030201' + 'e9030300' + '01020300')
  t.same(decodeCredentials(encodeCredentials(c, 'cygwin'), 'cygwin'), c)
  const small = { pid: 0x01020304, uid: 1001, gid: 513 }
  t.equal(encodeCredentials(small, 'libassuan').toString('hex'), '04030201' + 'e903' + '0102')
  t.same(decodeCredentials(encodeCredentials(small, 'libassuan'), 'libassuan'), small)
  t.same(CREDENTIALS_LEN, { cygwin: 12, libassuan: 8 })
})

t.test('auto variant off Windows is cygwin (no SYSTEM attribute to look at)', async (t) => {
  t.equal(await detectCygwinVariant('/nonexistent', 'linux'), 'cygwin')
})

/** The server, where the test expects the file to be served by us. */
async function serving(outcome: Promise<Awaited<ReturnType<typeof listenCygwin>>>): Promise<CygwinServer> {
  const o = await outcome
  if (o.alreadyServed) throw new Error(`expected to listen, but it is already served by ${o.by}`)
  return o
}

// --- our client and our server ---------------------------------------------

for (const variant of variants) {
  t.test(`our client against our server (${variant}): 1 MiB each way, credentials, file`, async (t) => {
    const dir = shortTempDir(t)
    const { file, server, peers, streams } = await ourServer(t, dir, variant)
    if (process.platform !== 'win32') t.equal(fs.statSync(file).mode & 0o777, 0o600, 'file mode 0600')
    t.equal(parseCygwinSocketFile(fs.readFileSync(file), file).port, server.port)

    const socket = await connectCygwin(file, { variant, credentials: { uid: 1001, gid: 513 } })
    const data = randomBytes(1024 * 1024)
    const chunks: Buffer[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk)
        cb()
      },
    })
    socket.pipe(sink) // a plain pipe, no resume(): the handed-over socket must flow
    socket.end(data)
    await new Promise((r) => sink.on('finish', r))
    const back = Buffer.concat(chunks)
    t.equal(back.length, data.length)
    t.equal(sha(back), sha(data), 'echoed intact')
    t.equal(sha(streams[0] ?? Buffer.alloc(0)), sha(data), 'the server saw exactly our stream')
    t.same(peers, [{ pid: process.pid, uid: 1001, gid: 513 }])
    socket.destroy()

    await server.close()
    t.notOk(fs.existsSync(file), 'file removed on close')
    await t.rejects(connectCygwin(file, { variant }), { exitCode: ExitCode.UNAVAILABLE, message: /no Cygwin socket file/ })
  })
}

t.test('our client defaults: our pid, uid 0, gid 0', async (t) => {
  const { file, server, peers } = await ourServer(t, shortTempDir(t), 'cygwin')
  const socket = await connectCygwin(file)
  socket.end()
  t.same(peers, [{ pid: process.pid, uid: 0, gid: 0 }])
  await server.close()
})

// --- against the independent implementation ---------------------------------

for (const variant of variants) {
  t.test(`our client against a plain ${variant} server`, async (t) => {
    const greeting = Buffer.from('world')
    const plain = await plainServer(t, shortTempDir(t), { variant, greeting })
    const socket = await connectCygwin(plain.file, { variant })
    t.same(await readN(socket, greeting.length), greeting, 'the stream starts right after the handshake')
    const data = randomBytes(1024 * 1024)
    socket.write(data)
    const back = await readN(socket, data.length)
    t.equal(sha(back), sha(data), '1 MiB echoed intact')
    socket.end()
    const seen = plain.seen[0]
    t.ok(seen?.secret.equals(plain.secret), 'sent the secret')
    t.equal(seen?.creds?.length, CREDENTIALS_LEN[variant])
    t.equal(seen?.creds?.readUInt32LE(0), process.pid, 'pid first, little-endian')
    t.equal(seen?.creds?.subarray(4).toString('hex'), '00'.repeat(CREDENTIALS_LEN[variant] - 4), 'uid and gid 0')
    t.equal(sha(seen?.stream ?? Buffer.alloc(0)), sha(data), 'no handshake byte leaked into the server stream')
  })

  t.test(`a plain ${variant} client against our server`, async (t) => {
    const { file, peers, streams } = await ourServer(t, shortTempDir(t), variant)
    const credLen = CREDENTIALS_LEN[variant]
    for (const mode of ['step by step', 'pipelined'] as const) {
      const data = randomBytes(1024 * 1024)
      const got = await plainClient(file, { variant, data, ...(mode === 'pipelined' ? { pipelined: { cuts: [] } } : {}) })
      const { secret } = plainParse(file)
      t.ok(got.subarray(0, 16).equals(secret), `${mode}: the secret comes back`)
      const answer = got.subarray(16, 16 + credLen)
      t.equal(answer.readUInt32LE(0), process.pid, `${mode}: server pid`)
      t.ok(
        answer.subarray(4).equals(plainClientCredBytes(variant).subarray(4)),
        `${mode}: our uid/gid answered with the client's own`,
      )
      t.equal(got.length, 16 + credLen + data.length, `${mode}: nothing more, nothing less`)
      t.equal(sha(got.subarray(16 + credLen)), sha(data), `${mode}: 1 MiB echoed intact`)
    }
    t.same(peers, [plainClientCreds, plainClientCreds])
    t.equal(streams.length, 2)
  })
}

// --- secrets ----------------------------------------------------------------

t.test('our server: a wrong secret is closed without a word, and nothing leaks to the log', async (t) => {
  const log = captureLog()
  const { file, peers } = await ourServer(t, shortTempDir(t), 'cygwin', log)
  const wrong = randomBytes(16)
  const got = await plainClient(file, { variant: 'cygwin', data: Buffer.from('hello'), secret: wrong })
  t.equal(got.length, 0, 'no answer at all')
  t.same(peers, [], 'never handed over')
  await sleep(20)
  t.match(log.lines.join('\n'), /refused a connection: wrong secret/)
  const text = fs.readFileSync(file, 'latin1')
  for (const word of text.slice(text.lastIndexOf(' ') + 1, -1).split('-')) {
    t.notOk(log.lines.join('\n').toLowerCase().includes(word), 'the secret is not logged')
  }
  t.notOk(log.lines.join('\n').includes(wrong.toString('hex')), 'neither is what the client sent')
})

t.test('our client: the server rejects our secret', async (t) => {
  const dir = shortTempDir(t)
  const { server } = await ourServer(t, dir, 'cygwin')
  const forged = path.join(dir, 'forged')
  fs.writeFileSync(forged, formatCygwinSocketFile(server.port, randomBytes(16)))
  await t.rejects(connectCygwin(forged, { variant: 'cygwin' }), {
    exitCode: ExitCode.REFUSED,
    message: /closed the connection on our secret: it rejected it/,
  })
})

t.test('our client: a server that does not send the secret back is refused', async (t) => {
  const plain = await plainServer(t, shortTempDir(t), { variant: 'cygwin', badEcho: true })
  await t.rejects(connectCygwin(plain.file, { variant: 'cygwin' }), {
    exitCode: ExitCode.REFUSED,
    message: /did not send the secret back/,
  })
  t.equal(plain.seen[0]?.creds, undefined, 'no credentials sent to an impostor')
})

// --- files and ports ----------------------------------------------------------

t.test('our client: missing, malformed, libassuan and stale files', async (t) => {
  const dir = shortTempDir(t)
  const missing = path.join(dir, 'missing')
  const err1 = await connectCygwin(missing).catch((e: unknown) => e)
  t.match(err1, { exitCode: ExitCode.UNAVAILABLE, message: /no Cygwin socket file at/ })
  t.ok(cygwinRetryable(err1), 'missing file: worth waiting for')

  const bad = path.join(dir, 'bad')
  fs.writeFileSync(bad, '!<socket >12345 s nothex\0')
  const err2 = await connectCygwin(bad).catch((e: unknown) => e)
  t.match(err2, { exitCode: ExitCode.PROTOCOL, message: /four 8-digit hex/ })
  t.notOk(cygwinRetryable(err2), 'malformed file: waiting will not help')

  const assuan = path.join(dir, 'S.gpg-agent')
  fs.writeFileSync(assuan, Buffer.concat([Buffer.from('54321\n'), randomBytes(16)]))
  await t.rejects(connectCygwin(assuan), { exitCode: ExitCode.PROTOCOL, message: /libassuan one/ })

  const closed = net.createServer()
  await new Promise<void>((r) => closed.listen({ host: '127.0.0.1', port: 0 }, r))
  const port = (closed.address() as net.AddressInfo).port
  await new Promise<void>((r) => closed.close(() => r()))
  const stale = path.join(dir, 'stale')
  fs.writeFileSync(stale, formatCygwinSocketFile(port, randomBytes(16)))
  const err3 = await connectCygwin(stale).catch((e: unknown) => e)
  t.match(err3, { exitCode: ExitCode.UNAVAILABLE, message: new RegExp(`names port ${port} but nobody listens there: the file is stale`) })
  t.ok(cygwinRetryable(err3))
})

t.test('our server: replaces a stale file, refuses a live one or a foreign file', async (t) => {
  const dir = shortTempDir(t)
  const file = path.join(dir, 'agent.sock')
  fs.writeFileSync(file, formatCygwinSocketFile(1, randomBytes(16))) // port 1: nobody listens
  const first = await serving(listenCygwin(file, (s) => s.destroy()))
  t.equal(parseCygwinSocketFile(fs.readFileSync(file), file).port, first.port, 'stale file replaced')
  const before = fs.readFileSync(file)
  t.same(await listenCygwin(file, (s) => s.destroy()), { alreadyServed: true, by: `the server on 127.0.0.1 port ${first.port}` }, 'a live one is reported as served')
  t.same(fs.readFileSync(file), before, 'and left alone')
  await first.close()
  t.notOk(fs.existsSync(file), 'close() has removed the file by the time it resolves')

  // A dead server's port, since taken by a program that knows nothing of the secret.
  const other = net.createServer((c) => c.destroy())
  await new Promise<void>((r) => other.listen({ host: '127.0.0.1', port: 0 }, r))
  t.teardown(() => new Promise<void>((r) => other.close(() => r())))
  fs.writeFileSync(file, formatCygwinSocketFile((other.address() as net.AddressInfo).port, randomBytes(16)))
  const taken = await serving(listenCygwin(file, (s) => s.destroy()))
  t.equal(parseCygwinSocketFile(fs.readFileSync(file), file).port, taken.port, 'port reused by another program: stale')
  await taken.close()

  fs.writeFileSync(file, 'precious data')
  await t.rejects(listenCygwin(file, (s) => s.destroy()), { message: /exists and is not a Cygwin socket file; refusing/ })
  t.equal(fs.readFileSync(file, 'latin1'), 'precious data', 'left alone')

  fs.rmSync(file)
  const second = await serving(listenCygwin(file, (s) => s.destroy()))
  fs.writeFileSync(file, formatCygwinSocketFile(second.port, randomBytes(16)))
  await second.close()
  t.ok(fs.existsSync(file), 'close leaves a file that is no longer ours')
})

// --- timeouts -------------------------------------------------------------------

t.test('our client: handshake timeouts, with a hint when the variant is wrong', async (t) => {
  const dir = shortTempDir(t)
  const silent = net.createServer((c) => c.on('error', () => {}).resume()) // reads, never answers
  await new Promise<void>((r) => silent.listen({ host: '127.0.0.1', port: 0 }, r))
  t.teardown(() => new Promise<void>((r) => silent.close(() => r())))
  const file = path.join(dir, 'silent')
  fs.writeFileSync(file, formatCygwinSocketFile((silent.address() as net.AddressInfo).port, randomBytes(16)))
  await t.rejects(connectCygwin(file, { timeoutMs: 200 }), {
    exitCode: ExitCode.TIMEOUT,
    message: /no answer to the secret .* within 200 ms: whatever listens there is not a Cygwin socket server/,
  })

  // Like gpg-agent, it does not answer the 4 bytes it took for the start of a request.
  const assuan = await plainServer(t, dir, { variant: 'libassuan', echo: false })
  await t.rejects(connectCygwin(assuan.file, { variant: 'cygwin', timeoutMs: 300 }), {
    exitCode: ExitCode.TIMEOUT,
    message: /sent 8 of 12 bytes, as libassuan \(gpg-agent\) does: use --cygwin-variant libassuan$/,
  })

  const cygwin = await plainServer(t, dir, { variant: 'cygwin' })
  await t.rejects(connectCygwin(cygwin.file, { variant: 'libassuan', timeoutMs: 300 }), {
    exitCode: ExitCode.TIMEOUT,
    message: /may be waiting for Cygwin's 12-byte credentials: use --cygwin-variant cygwin$/,
  })
})

t.test('our server: a client that stalls in the handshake is dropped', async (t) => {
  const log = captureLog()
  const file = path.join(shortTempDir(t), 'sock')
  const server = await serving(listenCygwin(file, () => t.fail('handed over'), { handshakeTimeoutMs: 200, log }))
  t.teardown(() => server.close())
  const c = net.connect({ host: '127.0.0.1', port: server.port })
  const got = new Collector(c)
  c.write(plainParse(file).secret.subarray(0, 10))
  const started = Date.now()
  t.equal((await got.ended).length, 0)
  t.ok(Date.now() - started >= 150, 'after the timeout')
  await sleep(20)
  t.match(log.lines.join('\n'), /no handshake within 200 ms/)
})

// --- EOF right after the handshake ---------------------------------------------

t.test('our server: a client that hangs up right after its handshake is seen to end', async (t) => {
  for (const variant of variants) {
    let ended = 0
    const file = path.join(shortTempDir(t), 'sock')
    const server = await serving(
      listenCygwin(
        file,
        (s) => {
          s.on('end', () => {
            ended++
            s.end()
          })
          s.resume()
        },
        { variant },
      ),
    )
    t.teardown(() => server.close())
    const got = await plainClient(file, { variant, data: Buffer.alloc(0), pipelined: { cuts: [] } })
    t.equal(got.length, 16 + CREDENTIALS_LEN[variant], `${variant}: answered, then closed`)
    t.equal(ended, 1, `${variant}: onConnection saw the EOF`)
  }
})

t.test('our client: a server that hangs up right after its handshake is seen to end', async (t) => {
  for (const variant of variants) {
    const plain = await plainServer(t, shortTempDir(t), { variant, greeting: Buffer.from('bye'), endAfterAnswer: true })
    const socket = await connectCygwin(plain.file, { variant })
    await sleep(50) // the FIN is in before anyone reads
    t.notOk(socket.readableEnded, `${variant}: EOF not consumed by the handshake`)
    const chunks: Buffer[] = []
    socket.on('data', (d: Buffer) => chunks.push(d))
    await new Promise((r) => socket.once('end', r))
    t.equal(Buffer.concat(chunks).toString(), 'bye', `${variant}: data, then EOF`)
    socket.destroy()
  }
})

t.test('our client: gpg-agent taking 8 of 12 credential bytes and hanging up gets a hint', async (t) => {
  const plain = await plainServer(t, shortTempDir(t), { variant: 'libassuan', echo: false, hangUpOnStream: true })
  await t.rejects(connectCygwin(plain.file, { variant: 'cygwin' }), {
    exitCode: ExitCode.REFUSED,
    message: /during the credential exchange; it sent 8 of 12 bytes first, as libassuan \(gpg-agent\) does: use --cygwin-variant libassuan$/,
  })
})

// --- bytes split and merged ---------------------------------------------------

for (const variant of variants) {
  t.test(`our server (${variant}): secret + credentials + data cut at every byte boundary`, async (t) => {
    const { file, peers, streams } = await ourServer(t, shortTempDir(t), variant)
    const data = Buffer.from('hello')
    const total = 16 + CREDENTIALS_LEN[variant] + data.length
    const plans = [...everyByte(total).map((i) => [i]), everyByte(total)]
    for (const cuts of plans) {
      const got = await plainClient(file, { variant, data, pipelined: { cuts } })
      const answer = 16 + CREDENTIALS_LEN[variant]
      if (got.length !== answer + data.length || !got.subarray(answer).equals(data)) {
        return t.fail(`cut at ${cuts.join(',')}: got ${got.toString('hex')}`)
      }
    }
    t.equal(peers.length, plans.length, `${plans.length} connections handed over`)
    t.ok(
      streams.every((s) => s.equals(data)),
      'every stream starts with exactly the data, whatever the cuts',
    )
    t.ok(
      peers.every((p) => p.pid === plainClientCreds.pid && p.uid === plainClientCreds.uid && p.gid === plainClientCreds.gid),
      'credentials read correctly from every split',
    )
  })

  t.test(`our client (${variant}): echo + credentials + first data cut at every byte boundary`, async (t) => {
    const dir = shortTempDir(t)
    const greeting = Buffer.from('world')
    const total = 16 + CREDENTIALS_LEN[variant] + greeting.length
    const plans = [...everyByte(total).map((i) => [i]), everyByte(total)]
    for (const cuts of plans) {
      const plain = await plainServer(t, dir, { variant, greeting, cuts })
      const socket = await connectCygwin(plain.file, { variant })
      socket.write('ping')
      const got = await readN(socket, greeting.length + 4)
      socket.destroy()
      if (!got.equals(Buffer.from('worldping'))) return t.fail(`cut at ${cuts.join(',')}: stream began ${got.toString('hex')}`)
      if (!plain.seen[0]?.stream.equals(Buffer.from('ping'))) return t.fail(`cut at ${cuts.join(',')}: server stream`)
      await new Promise<void>((r) => plain.server.close(() => r()))
    }
    t.pass(`${plans.length} ways of cutting, each stream intact`)
  })
}
