import { randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { ExitCode } from '../../exit-codes.js'
import type { Log } from '../../log.js'
import { RelayError, errorCode, isClosedByPeer, messageOf } from '../../relay-error.js'
import { FILE_ATTRIBUTE_SYSTEM, addFileAttributes, getFileAttributes } from '../../win32/file-attributes.js'

/**
 * Cygwin/MSYS2 emulated Unix sockets, both sides. Git for Windows' ssh and
 * ssh-agent, every MSYS2 program, ssh-pageant and gpg-agent's
 * `S.gpg-agent.ssh` use them: an AF_UNIX stream socket is really TCP on
 * 127.0.0.1, and the "socket" is a file naming the port and a secret.
 *
 * The file (Cygwin's `fhandler_socket_local::bind`; libassuan's
 * `_assuan_sock_bind` writes the same for `S.gpg-agent.ssh`):
 *
 *     "!<socket >" PORT " " TYPE " " W0 "-" W1 "-" W2 "-" W3 NUL
 *
 * PORT is decimal; TYPE is `s` (SOCK_STREAM) or `d` (SOCK_DGRAM, which has
 * no handshake and nothing for a byte relay to do); W0…W3 are the secret's
 * four 32-bit words as `%08x` (readers accept either case). On Windows,
 * Cygwin also sets the SYSTEM attribute, and a Cygwin client refuses a file
 * without it (EBADF): see win32/file-attributes.ts.
 *
 * The handshake on the TCP connection, before any stream byte. The secret
 * travels as the words' memory on x86: each word little-endian, so the
 * file's `aabbccdd-…` is sent as `dd cc bb aa …`.
 *
 *     Cygwin (af_local_connect / af_local_accept, fhandler/socket_local.cc):
 *       client → server  secret, 16 bytes    af_local_send_secret
 *       server checks it; wrong secret: shutdown + close, nothing sent
 *       server → client  secret, 16 bytes    its own copy; the client checks it
 *       client → server  struct ucred, 12    pid, uid, gid (int32, uint32, uint32 LE)
 *       server → client  struct ucred, 12    the server's pid, uid, gid
 *
 *     libassuan (gpg-agent's S.gpg-agent.ssh; _assuan_sock_check_nonce and
 *     _assuan_sock_connect, src/assuan-socket.c):
 *       client → server  secret, 16 bytes
 *       server checks it (wrong: gpg-agent closes the connection)
 *       server → client  the 16 bytes it received (its client never checks them)
 *       client → server  8 bytes: pid (int32 LE), then 4 bytes its client sends as 0
 *       server → client  8 bytes: the server's pid, then the client's bytes 4…7 unchanged
 *
 * libassuan exchanges 8 credential bytes because its comment takes Cygwin's
 * uid_t and gid_t for 16-bit shorts; in Cygwin they are 32 bits
 * (machine/_types.h), so `struct ucred` is 12. Against a libassuan server a
 * 12-byte client gets 8 bytes and waits for 4 that never come, while the
 * server has handed its last 4 bytes to the agent as the start of a
 * request. (Real Cygwin clients do not even get that far: gpg-agent's file
 * lacks the SYSTEM attribute, so they fail with EBADF.) No answer tells the
 * variants apart, only a silence, by which time the 4 extra bytes are in the
 * agent's stream; so we decide before sending, by the attribute: Cygwin's
 * files (and any server Cygwin clients can reach) have SYSTEM, libassuan
 * creates its file FILE_ATTRIBUTE_NORMAL. Off Windows there is no attribute
 * and `auto` means `cygwin`. A wrong guess ends in a TIMEOUT or REFUSED
 * error that names the other variant.
 *
 * Credentials are not authenticated by anything: they are whatever the peer
 * claims. OpenSSH's ssh-agent (Cygwin build) accepts a peer whose uid is its
 * own or 0, and we cannot cheaply compute the Cygwin uid of our Windows
 * account, so like libassuan we send uid = gid = 0 unless told otherwise.
 */

/** Every Cygwin socket file starts with this (`SOCKET_COOKIE` in Cygwin's path.h). */
export const SOCKET_COOKIE = '!<socket >'

/** The secret: four 32-bit words. */
export const CYGWIN_SECRET_LEN = 16

/** Which credential exchange the server speaks; see the module comment. */
export type CygwinVariant = 'cygwin' | 'libassuan'

/** Credential bytes each side sends, per variant. */
export const CREDENTIALS_LEN: Readonly<Record<CygwinVariant, number>> = { cygwin: 12, libassuan: 8 }

/** What a socket file says. */
export interface CygwinEndpoint {
  readonly port: number
  /** The 16 bytes as sent on the wire (each word little-endian). */
  readonly secret: Buffer
}

/**
 * Cygwin's `struct ucred`. Nothing vouches for these: each side sends what it
 * likes. In the libassuan variant uid and gid are 16 bits each.
 */
export interface CygwinCredentials {
  pid: number
  uid: number
  gid: number
}

const HEX_WORD = '[0-9a-fA-F]{8}'
const SECRET_RE = new RegExp(`^(${HEX_WORD})-(${HEX_WORD})-(${HEX_WORD})-(${HEX_WORD})$`)

/** Parse a socket file's bytes; throws a {@link RelayError} saying what is wrong. */
export function parseCygwinSocketFile(bytes: Buffer, name: string): CygwinEndpoint {
  const not = `${name} is not a Cygwin/MSYS2 socket file`
  if (bytes.length === 0) {
    // Servers write the file right after creating it: we may be early.
    throw new RelayError(`${name} is empty: the server may still be writing it`, ExitCode.UNAVAILABLE)
  }
  if (!bytes.subarray(0, SOCKET_COOKIE.length).equals(Buffer.from(SOCKET_COOKIE, 'latin1'))) {
    if (/^[0-9]{1,5}\n/.test(bytes.subarray(0, 6).toString('latin1'))) {
      throw new RelayError(
        `${not} but a libassuan one (a port, a newline and a 16-byte nonce: gpg-agent's S.gpg-agent, not S.gpg-agent.ssh); use the Assuan socket channel for it`,
        ExitCode.PROTOCOL,
      )
    }
    throw new RelayError(`${not}: it must start with "${SOCKET_COOKIE}"`, ExitCode.PROTOCOL)
  }
  // A C string: readers stop at the NUL. Tolerate a trailing newline from hand-made files.
  const nul = bytes.indexOf(0, SOCKET_COOKIE.length)
  const text = bytes
    .subarray(SOCKET_COOKIE.length, nul < 0 ? bytes.length : nul)
    .toString('latin1')
    .replace(/\s+$/, '')
  if (new RegExp(`^[0-9]+ ${HEX_WORD}-`).test(text)) {
    throw new RelayError(
      `${name} is an old-style socket file with no socket type after the port (MSYS 1.0 writes these); its handshake is different and not supported`,
      ExitCode.PROTOCOL,
    )
  }
  const head = /^([0-9]+) (\S) (.*)$/s.exec(text)
  if (!head) {
    throw new RelayError(
      `${not}: expected "${SOCKET_COOKIE}PORT s XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX" after the marker`,
      ExitCode.PROTOCOL,
    )
  }
  const [, portText = '', type = '', secretText = ''] = head
  const port = Number(portText)
  if (portText.length > 5 || port < 1 || port > 65535) {
    throw new RelayError(`${not}: port ${portText} is not a TCP port (1-65535)`, ExitCode.PROTOCOL)
  }
  if (type === 'd' || type === 'D') {
    throw new RelayError(
      `${name} is a Cygwin datagram socket (type "${type}"); only stream sockets (type "s") carry a byte stream`,
      ExitCode.PROTOCOL,
    )
  }
  if (type !== 's') {
    throw new RelayError(`${not}: unknown socket type "${type}" (expected "s", a stream socket)`, ExitCode.PROTOCOL)
  }
  const words = SECRET_RE.exec(secretText)
  if (!words) {
    // Not quoted: a near miss would print most of a working secret.
    throw new RelayError(
      `${not}: the secret must be four 8-digit hex numbers joined by "-" (found ${secretText.length} characters that are not)`,
      ExitCode.PROTOCOL,
    )
  }
  const secret = Buffer.alloc(CYGWIN_SECRET_LEN)
  for (let i = 0; i < 4; i++) secret.writeUInt32LE(Number.parseInt(words[i + 1] ?? '', 16), i * 4)
  return { port, secret }
}

/** The bytes of a stream socket file, as Cygwin writes them (lower-case hex, NUL-terminated). */
export function formatCygwinSocketFile(port: number, secret: Buffer): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`not a TCP port: ${port}`)
  if (secret.length !== CYGWIN_SECRET_LEN) throw new RangeError(`the secret must be ${CYGWIN_SECRET_LEN} bytes`)
  const words = [0, 1, 2, 3].map((i) => secret.readUInt32LE(i * 4).toString(16).padStart(8, '0'))
  return Buffer.from(`${SOCKET_COOKIE}${port} s ${words.join('-')}\0`, 'latin1')
}

/** Our credentials on the wire, in the layout of `variant`. */
export function encodeCredentials(c: CygwinCredentials, variant: CygwinVariant): Buffer {
  const b = Buffer.alloc(CREDENTIALS_LEN[variant])
  b.writeUInt32LE(c.pid >>> 0, 0)
  if (variant === 'cygwin') {
    b.writeUInt32LE(c.uid >>> 0, 4)
    b.writeUInt32LE(c.gid >>> 0, 8)
  } else {
    b.writeUInt16LE(c.uid & 0xffff, 4)
    b.writeUInt16LE(c.gid & 0xffff, 6)
  }
  return b
}

/** The peer's credential bytes, read back. */
export function decodeCredentials(b: Buffer, variant: CygwinVariant): CygwinCredentials {
  return variant === 'cygwin'
    ? { pid: b.readInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8) }
    : { pid: b.readInt32LE(0), uid: b.readUInt16LE(4), gid: b.readUInt16LE(6) }
}

/**
 * The variant a server probably speaks, from its file: on Windows, SYSTEM
 * attribute → `cygwin`, none → `libassuan` (gpg-agent); elsewhere `cygwin`.
 */
export async function detectCygwinVariant(file: string, platform: NodeJS.Platform = process.platform): Promise<CygwinVariant> {
  if (platform !== 'win32') return 'cygwin'
  try {
    return (await getFileAttributes(file)) & FILE_ATTRIBUTE_SYSTEM ? 'cygwin' : 'libassuan'
  } catch {
    return 'cygwin' // we just read the file; if its attributes cannot be had, bet on the common case
  }
}

/** How {@link connectCygwin} connects. */
export interface CygwinConnectOptions {
  /** The credential exchange; `auto` (the default) decides by {@link detectCygwinVariant}. */
  variant?: CygwinVariant | 'auto'
  /** What we claim to be; default our pid, uid 0, gid 0 (see the module comment). */
  credentials?: Partial<CygwinCredentials>
  /** Connect and handshake must be done within this; default 5000 ms. */
  timeoutMs?: number
}

/**
 * Read the socket file at `file`, connect to 127.0.0.1 and do the handshake.
 * Resolves with the socket at the first byte of the stream: nothing of the
 * handshake left in it, nothing the server sent after it taken out.
 */
export async function connectCygwin(file: string, options: CygwinConnectOptions = {}): Promise<net.Socket> {
  const { port, secret } = parseCygwinSocketFile(await readSocketFile(file), file)
  const variant = options.variant && options.variant !== 'auto' ? options.variant : await detectCygwinVariant(file)
  const ours = encodeCredentials({ pid: process.pid, uid: 0, gid: 0, ...options.credentials }, variant)
  const timeoutMs = options.timeoutMs ?? 5000
  const at = `port ${port} (from ${file})`

  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', ignore) // readExactly and the connect wait below see errors; this keeps them from being unhandled
  let phase: 'connect' | 'secret' | 'credentials' = 'connect'
  let timedOut = false
  let buffered = 0
  const timer = setTimeout(() => {
    timedOut = true
    buffered = socket.readableLength
    socket.destroy()
  }, timeoutMs)
  try {
    await waitForConnect(socket)
    phase = 'secret'
    socket.write(secret)
    const echo = await readExactly(socket, CYGWIN_SECRET_LEN)
    if (!timingSafeEqual(echo, secret)) {
      throw new RelayError(
        `the program on ${at} did not send the secret back: it is not the server that wrote the file (stale file, port taken by another program?)`,
        ExitCode.REFUSED,
      )
    }
    phase = 'credentials'
    socket.write(ours)
    await readExactly(socket, CREDENTIALS_LEN[variant])
  } catch (err) {
    socket.destroy()
    throw describeClientFailure(err, { at, file, port, phase, timedOut, timeoutMs, variant, buffered })
  } finally {
    clearTimeout(timer)
  }
  socket.removeListener('error', ignore)
  return socket
}

interface ClientFailure {
  at: string
  file: string
  port: number
  phase: 'connect' | 'secret' | 'credentials'
  timedOut: boolean
  timeoutMs: number
  variant: CygwinVariant
  buffered: number
}

function describeClientFailure(err: unknown, f: ClientFailure): RelayError {
  if (err instanceof RelayError) return err
  const wanted = CREDENTIALS_LEN[f.variant]
  if (f.timedOut) {
    const within = `within ${f.timeoutMs} ms`
    if (f.phase === 'connect') return new RelayError(`no TCP connection to ${f.at} ${within}`, ExitCode.TIMEOUT)
    if (f.phase === 'secret') {
      return new RelayError(
        `no answer to the secret from ${f.at} ${within}: whatever listens there is not a Cygwin socket server (stale file?)`,
        ExitCode.TIMEOUT,
      )
    }
    let hint = ''
    if (f.variant === 'cygwin' && f.buffered === CREDENTIALS_LEN.libassuan) {
      hint = `; it sent ${f.buffered} of ${wanted} bytes, as libassuan (gpg-agent) does: use the libassuan variant`
    } else if (f.variant === 'libassuan' && f.buffered === 0) {
      hint = `; it may be waiting for Cygwin's ${CREDENTIALS_LEN.cygwin}-byte credentials: use the cygwin variant`
    }
    return new RelayError(`${f.at} took our secret but not our ${wanted}-byte credentials ${within}${hint}`, ExitCode.TIMEOUT)
  }
  if (f.phase === 'connect') {
    const code = errorCode(err)
    if (code === 'ECONNREFUSED') {
      return new RelayError(
        `${f.file} names port ${f.port} but nobody listens there: the file is stale (left by a server that died); restart the server`,
        ExitCode.UNAVAILABLE,
      )
    }
    return new RelayError(`cannot connect to ${f.at}: ${code ?? messageOf(err)}`, ExitCode.UNAVAILABLE)
  }
  if (err instanceof ShortRead || isClosedByPeer(err)) {
    if (f.phase === 'secret') {
      return new RelayError(
        `the server on ${f.at} closed the connection on our secret: it rejected it (the file is stale, or was rewritten since we read it)`,
        ExitCode.REFUSED,
      )
    }
    // gpg-agent takes 8 of our 12 bytes, answers 8, then reads the other 4 as a request and may hang up.
    const hint =
      f.variant === 'cygwin' && err instanceof ShortRead && err.got === CREDENTIALS_LEN.libassuan
        ? `; it sent ${err.got} of ${wanted} bytes first, as libassuan (gpg-agent) does: use the libassuan variant`
        : ''
    return new RelayError(`the server on ${f.at} closed the connection during the credential exchange${hint}`, ExitCode.REFUSED)
  }
  return new RelayError(`handshake with ${f.at} failed: ${messageOf(err)}`, ExitCode.ERROR)
}

async function readSocketFile(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file)
  } catch (err) {
    switch (errorCode(err)) {
      case 'ENOENT':
        throw new RelayError(
          `no Cygwin socket file at ${file}: is the agent running, and does the path (SSH_AUTH_SOCK?) point at it?`,
          ExitCode.UNAVAILABLE,
        )
      case 'EACCES':
      case 'EPERM':
        throw new RelayError(`permission denied reading ${file}: it belongs to another user`, ExitCode.REFUSED)
      default:
        throw new RelayError(`cannot read ${file}: ${messageOf(err)}`, ExitCode.ERROR)
    }
  }
}

/** With `-p`: the file, or a listener behind it, is not there yet. */
export function cygwinRetryable(err: unknown): boolean {
  return err instanceof RelayError && err.exitCode === ExitCode.UNAVAILABLE
}

/** How {@link listenCygwin} serves. */
export interface CygwinListenOptions {
  /** The credential exchange clients will speak; default `cygwin`. */
  variant?: CygwinVariant
  /** What we answer; default our pid and the client's own uid and gid (as libassuan does). */
  credentials?: Partial<CygwinCredentials>
  /** A client must finish its handshake within this; default 10 000 ms. */
  handshakeTimeoutMs?: number
  /** Rejected and failed handshakes are reported here (debug); never any secret. */
  log?: Log
}

/** A listening Cygwin socket. */
export interface CygwinServer {
  readonly port: number
  readonly path: string
  /**
   * Stop listening and remove the file (if it is still ours). Connections
   * already handed over are not touched: they belong to `onConnection`.
   */
  close(): Promise<void>
}

/**
 * Listen on 127.0.0.1 (a random port), write the socket file at `file` and
 * hand each client that proves it read the file to `onConnection`, at the
 * first byte of its stream, with no 'error' listener of ours left on it.
 * Sockets are half-open capable (a client's EOF does not end our side): end
 * them when done.
 *
 * A file already at `file` is replaced only if it is a Cygwin socket file
 * whose port nobody listens on (left by a server that died).
 */
export async function listenCygwin(
  file: string,
  onConnection: (socket: net.Socket, peer: CygwinCredentials) => void,
  options: CygwinListenOptions = {},
): Promise<CygwinServer> {
  file = path.resolve(file) // close() must find it even if the cwd changes
  const variant = options.variant ?? 'cygwin'
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000
  const log = options.log
  const secret = randomBytes(CYGWIN_SECRET_LEN)
  const handshaking = new Set<net.Socket>()
  let closed = false

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    handshaking.add(socket)
    socket.on('error', ignore)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      socket.destroy()
    }, handshakeTimeoutMs)
    serverHandshake(socket, secret, variant, options.credentials).then(
      (peer) => {
        clearTimeout(timer)
        handshaking.delete(socket)
        socket.removeListener('error', ignore)
        if (closed) {
          socket.destroy()
          return
        }
        try {
          onConnection(socket, peer)
        } catch (err) {
          log?.error(`cygwin socket: connection handler failed: ${messageOf(err)}`)
          socket.destroy()
        }
      },
      (err: unknown) => {
        clearTimeout(timer)
        handshaking.delete(socket)
        socket.destroy()
        const why = timedOut ? `no handshake within ${handshakeTimeoutMs} ms` : messageOf(err)
        log?.debug(`cygwin socket: refused a connection: ${why}`)
      },
    )
  })

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.removeListener('error', reject)
      resolve((server.address() as net.AddressInfo).port)
    })
  }).catch((err: unknown) => {
    throw new RelayError(`cannot listen on 127.0.0.1: ${messageOf(err)}`, ExitCode.ERROR)
  })
  server.on('error', (err) => log?.error(`cygwin socket: ${messageOf(err)}`)) // accept failures (EMFILE …)

  const content = formatCygwinSocketFile(port, secret)
  try {
    await writeSocketFile(file, content, variant)
  } catch (err) {
    server.close()
    throw err
  }

  return {
    port,
    path: file,
    async close() {
      if (closed) return
      closed = true
      // File first, so no client reads a port that is about to go away.
      await removeIfOurs(file, content)
      server.close()
      for (const s of handshaking) s.destroy()
    },
  }
}

async function serverHandshake(
  socket: net.Socket,
  secret: Buffer,
  variant: CygwinVariant,
  answer: Partial<CygwinCredentials> | undefined,
): Promise<CygwinCredentials> {
  const theirs = await readExactly(socket, CYGWIN_SECRET_LEN)
  if (!timingSafeEqual(theirs, secret)) throw new Error('wrong secret') // Cygwin closes without a word
  socket.write(secret)
  const raw = await readExactly(socket, CREDENTIALS_LEN[variant])
  const peer = decodeCredentials(raw, variant)
  socket.write(encodeCredentials({ pid: process.pid, uid: peer.uid, gid: peer.gid, ...answer }, variant))
  return peer
}

async function writeSocketFile(file: string, content: Buffer, variant: CygwinVariant): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.writeFile(file, content, { mode: 0o600, flag: 'wx' })
      break
    } catch (err) {
      if (errorCode(err) !== 'EEXIST' || attempt > 0) {
        throw new RelayError(`cannot create ${file}: ${messageOf(err)}`, ExitCode.ERROR)
      }
      await removeIfStale(file)
    }
  }
  // Cygwin clients ignore a socket file without SYSTEM; gpg-agent's 8-byte
  // servers have none, and clients tell the variants apart by it.
  if (process.platform === 'win32' && variant === 'cygwin') {
    try {
      await addFileAttributes(file, FILE_ATTRIBUTE_SYSTEM)
    } catch (err) {
      await fs.rm(file, { force: true })
      throw new RelayError(`cannot mark ${file} as a socket (SYSTEM attribute): ${messageOf(err)}`, ExitCode.ERROR)
    }
  }
}

/**
 * Remove a Cygwin socket file left by a server that died; refuse a live one
 * or anything that is not a socket file. Live means something on its port
 * sends its secret back: a port since taken by another program is stale.
 */
async function removeIfStale(file: string): Promise<void> {
  let endpoint: CygwinEndpoint
  try {
    endpoint = parseCygwinSocketFile(await fs.readFile(file), file)
  } catch (err) {
    throw new RelayError(`${file} exists and is not a Cygwin socket file; refusing to replace it (${messageOf(err)})`, ExitCode.ERROR)
  }
  if (await answersWithSecret(endpoint)) {
    throw new RelayError(`${file} is in use: a server answers on its port ${endpoint.port}`, ExitCode.ERROR)
  }
  await fs.rm(file, { force: true })
}

async function answersWithSecret({ port, secret }: CygwinEndpoint, timeoutMs = 1000): Promise<boolean> {
  const probe = net.connect({ host: '127.0.0.1', port })
  probe.on('error', ignore)
  const timer = setTimeout(() => probe.destroy(new Error('timeout')), timeoutMs)
  try {
    await waitForConnect(probe)
    probe.write(secret)
    return timingSafeEqual(await readExactly(probe, CYGWIN_SECRET_LEN), secret)
  } catch (err) {
    return messageOf(err) === 'timeout' // accepted but slow to answer: somebody may well be there
  } finally {
    clearTimeout(timer)
    probe.destroy()
  }
}

async function removeIfOurs(file: string, content: Buffer): Promise<void> {
  try {
    if ((await fs.readFile(file)).equals(content)) await fs.rm(file, { force: true })
  } catch {
    // Gone already, or unreadable: not ours to clean.
  }
}

function waitForConnect(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      socket.removeListener('connect', onConnect)
      socket.removeListener('error', onError)
      socket.removeListener('close', onClose)
      if (err) reject(err)
      else resolve()
    }
    const onConnect = () => settle()
    const onError = (err: Error) => settle(err)
    const onClose = () => settle(new Error('closed before connecting'))
    socket.on('connect', onConnect)
    socket.on('error', onError)
    socket.on('close', onClose)
  })
}

/** The peer closed before sending all the bytes we waited for. */
class ShortRead extends Error {
  constructor(
    readonly got: number,
    readonly wanted: number,
  ) {
    super(`connection closed after ${got} of ${wanted} bytes`)
  }
}

/**
 * Exactly `n` bytes from `socket`, leaving whatever follows in its buffer
 * for the stream's reader: `read(n)` never takes more than asked, however
 * the bytes were split or merged in transit. A read that gets exactly what
 * it asked for does not emit 'end' either, even if the peer's EOF is already
 * in: the stream's reader still sees it (a client that connects, shakes
 * hands and hangs up must look like one to `onConnection`).
 */
function readExactly(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const finish = () => {
      socket.removeListener('readable', onReadable)
      socket.removeListener('end', onEnd)
      socket.removeListener('close', onEnd)
      socket.removeListener('error', onError)
    }
    const onReadable = () => {
      const chunk = socket.read(n) as Buffer | null
      if (chunk === null) return
      finish()
      // At the end of the stream read(n) hands over what is left, even if short.
      if (chunk.length < n) reject(new ShortRead(chunk.length, n))
      else resolve(chunk)
    }
    const onEnd = () => {
      finish()
      reject(new ShortRead(socket.readableLength, n))
    }
    const onError = (err: Error) => {
      finish()
      reject(err)
    }
    // 'end' and 'close' come once: if they are behind us, so is every byte.
    if (socket.readableEnded || socket.destroyed) return reject(new ShortRead(0, n))
    socket.on('readable', onReadable)
    socket.on('end', onEnd)
    socket.on('close', onEnd)
    socket.on('error', onError)
  })
}

function ignore(): void {}
