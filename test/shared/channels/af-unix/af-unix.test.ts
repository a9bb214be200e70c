/**
 * shared/channels/af-unix/af-unix.ts against an in-memory Winsock (fixtures/fake-af-unix.ts):
 * Windows AF_UNIX cannot run under Wine, so its logic is proven here, and
 * the Wine test (win32/winsock.test.ts) only proves the bindings load and
 * the error mapping is wired.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import t from 'tap'
import {
  type AfUnixSocket,
  NoAfUnixError,
  afUnixRetryable,
  connectAfUnix,
  decodeSockaddrUn,
  encodeSockaddrUn,
  listenAfUnix,
} from '../../../../shared/channels/af-unix/af-unix.js'
import { ExitCode } from '../../../../shared/exit-codes.js'
import { RelayError, isClosedByPeer } from '../../../../shared/relay-error.js'
import { WIN32, WSA } from '../../../../shared/win32/errors.js'
import { FakeWinsock } from '../../../fixtures/fake-af-unix.js'

const PATH = 'C:\\Users\\me\\.ssh\\agent.sock'

/** Listen on `path` and hand over the connections as they come. */
async function serve(fake: FakeWinsock, path = PATH) {
  const connections: AfUnixSocket[] = []
  const waiting: ((s: AfUnixSocket) => void)[] = []
  const errors: Error[] = []
  const result = await listenAfUnix(
    path,
    (s) => {
      const w = waiting.shift()
      if (w) w(s)
      else connections.push(s)
    },
    fake.host,
    { onError: (e) => errors.push(e) },
  )
  if (!('server' in result)) throw new Error('expected to listen')
  const next = () => new Promise<AfUnixSocket>((resolve) => (connections.length ? resolve(connections.shift() as AfUnixSocket) : waiting.push(resolve)))
  return { server: result.server, next, errors }
}

/** Everything `stream` yields until its end. */
function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.once('end', () => resolve(Buffer.concat(chunks)))
    stream.once('error', reject)
  })
}

/** Write `data` in random pieces, honouring backpressure, then end (once `endAfter` settles). */
async function writeInPieces(stream: Duplex, data: Buffer, endAfter?: Promise<unknown>): Promise<void> {
  for (let at = 0; at < data.length; ) {
    const n = 1 + Math.floor(Math.random() * 100_000)
    if (!stream.write(data.subarray(at, at + n))) await new Promise((r) => stream.once('drain', r))
    at += n
  }
  await endAfter
  stream.end()
}

/** Resolves once `stream` has closed (at once if it has). */
const closed = (stream: Duplex) => new Promise((r) => (stream.closed ? r(undefined) : stream.once('close', r)))

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

t.test('sockaddr_un: family, UTF-8 path, NUL, 107-byte limit', async (t) => {
  const a = encodeSockaddrUn('C:\\x\\é.sock')
  t.equal(a.length, 110, 'sizeof(struct sockaddr_un)')
  t.equal(a.readUInt16LE(0), 1, 'sun_family = AF_UNIX, little-endian')
  t.same(a.subarray(2, 2 + 12), Buffer.from('C:\\x\\é.sock', 'utf8'), 'path as UTF-8')
  t.equal(a[2 + 12], 0, 'NUL-terminated')
  t.equal(decodeSockaddrUn(a), 'C:\\x\\é.sock')

  const longest = 'C:\\' + 'a'.repeat(104)
  t.equal(Buffer.byteLength(longest), 107)
  t.equal(decodeSockaddrUn(encodeSockaddrUn(longest)), longest, '107 bytes fit')
  const tooLong = 'C:\\' + 'é'.repeat(52) // 3 + 104 = 107 characters' worth of bytes... plus one
  t.equal(Buffer.byteLength(tooLong + 'a'), 108)
  t.throws(() => encodeSockaddrUn(tooLong + 'a'), { message: /108 bytes long; at most 107 fit/, exitCode: ExitCode.USAGE })
  t.throws(() => encodeSockaddrUn(''), { message: /empty/, exitCode: ExitCode.USAGE })
  t.throws(() => encodeSockaddrUn('C:\\a\0b'), { message: /NUL/ })
})

t.test('4 MiB each way at once, random chunks, small buffers: byte-exact, then half-close both ways', async (t) => {
  const fake = new FakeWinsock({ capacity: 16 * 1024 })
  const { server, next } = await serve(fake)
  const client = await connectAfUnix(PATH, fake.host)
  const accepted = await next()
  const up = randomBytes(4 * 1024 * 1024)
  const down = randomBytes(4 * 1024 * 1024)
  // Both directions flow at once; the server ends only after the client's
  // EOF, as the client (no half-open, like net.connect) ends its own side
  // when the server's EOF arrives.
  const serverRead = readAll(accepted)
  const [atServer, atClient] = await Promise.all([serverRead, readAll(client), writeInPieces(client, up), writeInPieces(accepted, down, serverRead)])
  t.equal(atServer.length, up.length)
  t.equal(sha(atServer), sha(up), 'client → server byte-exact')
  t.equal(atClient.length, down.length)
  t.equal(sha(atClient), sha(down), 'server → client byte-exact')
  t.equal(fake.calls.filter((c) => c === 'shutdown').length, 2, 'each end() was a shutdown(SD_SEND)')
  await closed(client)
  t.ok(client.destroyed, 'the client closed itself once both directions were done')
  accepted.destroy()
  await server.close()
  t.equal(fake.open, 0, 'every socket closed')
})

t.test('backpressure: a reader that stops gets no more than its buffers hold, and nothing is lost', async (t) => {
  const fake = new FakeWinsock({ capacity: 8 * 1024 })
  const { server, next } = await serve(fake)
  const client = await connectAfUnix(PATH, fake.host)
  const accepted = await next()
  const data = randomBytes(1024 * 1024)
  let writesRefused = 0
  let handedOver = 0
  const writing = (async () => {
    for (let at = 0; at < data.length; at += 32 * 1024) {
      handedOver = at + 32 * 1024
      if (!client.write(data.subarray(at, at + 32 * 1024))) {
        writesRefused++
        await new Promise((r) => client.once('drain', r))
      }
    }
    client.end()
  })()
  // Nobody reads `accepted` yet: the client must stall with most of the data unsent.
  await new Promise((r) => setTimeout(r, 200))
  const inFlight = accepted.readableLength
  t.ok(writesRefused > 0, 'write() said to wait')
  t.ok(handedOver <= 128 * 1024, `the writer is held back (${handedOver} of ${data.length} bytes handed to the socket)`)
  t.ok(inFlight <= 64 * 1024 + 8 * 1024, `the reader took no more than its high-water mark (${inFlight})`)
  const received = await readAll(accepted)
  await writing
  t.equal(sha(received), sha(data), 'everything arrived once the reader read')
  client.destroy()
  accepted.destroy()
  await server.close()
})

t.test('half-close: the client ends, then still reads the answer; the server sees EOF first', async (t) => {
  const fake = new FakeWinsock()
  const { server, next } = await serve(fake)
  const client = await connectAfUnix(PATH, fake.host)
  const accepted = await next()
  client.end(Buffer.from('request'))
  const request = await readAll(accepted)
  t.equal(request.toString(), 'request', 'the server read the request, then EOF')
  t.notOk(accepted.writableEnded, 'the server may still write (allowHalfOpen)')
  const answer = readAll(client)
  accepted.end(Buffer.from('answer after EOF'))
  t.equal((await answer).toString(), 'answer after EOF', 'the client got the answer after its own end()')
  await closed(client)
  t.ok(client.destroyed, 'the client closes once both sides are done')
  accepted.destroy()
  await server.close()
})

t.test('half-close the other way: the server ends first, the client (no half-open) ends too', async (t) => {
  const fake = new FakeWinsock()
  const { server, next } = await serve(fake)
  const client = await connectAfUnix(PATH, fake.host)
  const accepted = await next()
  const atClient = readAll(client)
  accepted.end(Buffer.from('bye'))
  t.equal((await atClient).toString(), 'bye')
  const atServer = await readAll(accepted)
  t.equal(atServer.length, 0, 'the client answered our EOF with its own (allowHalfOpen false, like net.connect)')
  accepted.destroy()
  await server.close()
})

t.test('a reset while reading is an ECONNRESET error naming the path; other failures are not "closed by peer"', async (t) => {
  for (const [code, closedByPeer] of [
    [WSA.ECONNRESET, true],
    [WIN32.NETNAME_DELETED, true],
    [WIN32.CONNECTION_ABORTED, true],
    [WSA.ENETDOWN, false],
  ] as const) {
    const fake = new FakeWinsock()
    const { server, next } = await serve(fake)
    const client = await connectAfUnix(PATH, fake.host)
    await next()
    const failed = new Promise<Error & { code?: string; winError?: number }>((resolve) => client.once('error', resolve))
    client.resume()
    fake.failRecv(fake.lastConnection?.client as number, code)
    const err = await failed
    t.match(err.message, PATH, `error ${code}: the message names the socket`)
    t.equal(err.winError, code)
    t.equal(isClosedByPeer(err), closedByPeer, `error ${code} ${closedByPeer ? 'is' : 'is not'} a peer's departure (${err.code})`)
    t.ok(client.destroyed)
    await server.close()
  }
})

t.test('writing to a peer that has closed fails with ECONNRESET, not silently', async (t) => {
  const fake = new FakeWinsock()
  const { server, next } = await serve(fake)
  const client = await connectAfUnix(PATH, fake.host)
  const accepted = await next()
  accepted.destroy()
  const err = await new Promise<Error & { code?: string }>((resolve) => {
    client.once('error', resolve)
    client.write(Buffer.alloc(10))
  })
  t.equal(err.code, 'ECONNRESET')
  t.match(err.message, /broke while writing/)
  await server.close()
})

t.test('listener: stale file replaced, live listener detected, other files left alone', async (t) => {
  const fake = new FakeWinsock()
  fake.leaveStaleFile(PATH)
  const { server, next } = await serve(fake)
  t.same(fake.calls.slice(0, 6), ['socket', 'socket', `connect ${PATH}`, 'close', `remove ${PATH}`, `bind ${PATH}`], 'probe refused → stale file removed → bind')
  const bindAt = fake.calls.indexOf(`bind ${PATH}`)
  t.same(fake.calls.slice(bindAt, bindAt + 3), [`bind ${PATH}`, `makePrivate ${PATH}`, 'listen'], 'made private after bind, before listen')

  const second = await listenAfUnix(PATH, () => t.fail('no connection expected'), fake.host)
  t.same(second, { alreadyServed: true }, 'a live listener on the path: nothing to do')
  t.notOk(fake.calls.slice(bindAt + 3).includes(`remove ${PATH}`), 'the live socket file was not removed')
  const probe = await next()
  t.equal((await readAll(probe)).length, 0, "the live listener saw the probe's connection, which just closed")
  probe.destroy()
  const client = await connectAfUnix(PATH, fake.host)
  const accepted = await next()
  client.destroy()
  accepted.destroy()

  await server.close()
  t.equal(await fake.files.kind(PATH), 'missing', 'close() removed the socket file')
  await t.rejects(connectAfUnix(PATH, fake.host), { message: /no socket at/, exitCode: ExitCode.UNAVAILABLE })

  fake.fileSystem.set('C:\\notes.txt', 'other')
  await t.rejects(listenAfUnix('C:\\notes.txt', () => {}, fake.host), { message: /exists and is not a socket; refusing to replace it/ })
  t.equal(fake.fileSystem.get('C:\\notes.txt'), 'other', 'left alone')
  t.equal(fake.open, 0, 'no socket left open after the refusal')
})

t.test('listener: a bind race (EADDRINUSE) is looked at again; accept failures are reported and the listener goes on', async (t) => {
  const fake = new FakeWinsock()
  fake.failNext.bind = WSA.EADDRINUSE
  fake.failNext.accept = WSA.ENETDOWN
  const { server, next, errors } = await serve(fake)
  t.equal(fake.calls.filter((c) => c.startsWith('bind')).length, 2, 'bound on the second try')
  const client = await connectAfUnix(PATH, fake.host)
  const accepted = await next()
  t.ok(accepted, 'still accepting after the failure')
  t.equal(errors.length, 1)
  t.match(errors[0]?.message, /accept on .* failed.*10050/)
  client.destroy()
  accepted.destroy()
  await server.close()
  t.equal(errors.length, 1, "our own close is not reported as an accept failure")
})

t.test('listener: if the socket cannot be made private, nothing is left listening', async (t) => {
  const fake = new FakeWinsock()
  fake.failNext.makePrivate = WSA.EACCES
  await t.rejects(listenAfUnix(PATH, () => {}, fake.host), { message: /cannot make .*agent\.sock private/, exitCode: ExitCode.ERROR })
  t.notOk(fake.calls.includes('listen'), 'never listened')
  t.equal(await fake.files.kind(PATH), 'missing', 'the socket file was removed')
  t.equal(fake.open, 0)
})

t.test('no AF_UNIX (WSAEAFNOSUPPORT): the error names the fix, exit 3, and -p does not wait for it', async (t) => {
  const fake = new FakeWinsock({ socketError: WSA.EAFNOSUPPORT })
  for (const attempt of [connectAfUnix(PATH, fake.host), listenAfUnix(PATH, () => {}, fake.host)]) {
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(err, NoAfUnixError)
    t.equal((err as RelayError).exitCode, ExitCode.UNAVAILABLE)
    t.match((err as Error).message, /no AF_UNIX sockets \(they need Windows 10 1803 or later.*use a named pipe \/\/\.\/pipe\/NAME instead/)
    t.notOk(afUnixRetryable(err), 'not worth polling for')
  }
  t.same(fake.calls.filter((c) => c !== 'socket'), [], 'nothing else was tried')
})

t.test('connect failures name the fix and leave no socket open', async (t) => {
  const fake = new FakeWinsock()
  const missing = await connectAfUnix(PATH, fake.host).catch((e: unknown) => e as RelayError)
  t.match(missing, { message: /no socket at .*is the agent running/, exitCode: ExitCode.UNAVAILABLE })
  t.ok(afUnixRetryable(missing), '-p waits for a missing socket')

  fake.leaveStaleFile(PATH)
  const stale = await connectAfUnix(PATH, fake.host).catch((e: unknown) => e as RelayError)
  t.match(stale, { message: /nobody is listening on .*stale socket/, exitCode: ExitCode.UNAVAILABLE })
  t.ok(afUnixRetryable(stale), '-p waits for the listener to come back')

  fake.failNext.connect = WSA.EACCES
  await t.rejects(connectAfUnix(PATH, fake.host), { message: /permission denied for .*agent\.sock/, exitCode: ExitCode.REFUSED })
  t.equal(fake.open, 0, 'every failed attempt closed its socket')
})
