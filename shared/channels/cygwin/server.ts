import { randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { ExitCode } from '../../exit-codes.js'
import type { Log } from '../../log.js'
import { RelayError, errorCode, messageOf } from '../../relay-error.js'
import { type AlreadyServed, type ListenerKind, alreadyServed } from '../../listen/listener.js'
import { describeCode, preparePrivateDirectory, warnIfSharedFolder } from '../private-directory.js'
import { foreignFileOwner, foreignPortOwner, servedByAnotherUser } from '../owner.js'
import { FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_SYSTEM } from '../../win32/file-attributes.js'
import { createPrivateFile } from '../../win32/private-file.js'
import {
  CREDENTIALS_LEN,
  CYGWIN_SECRET_LEN,
  type CygwinCredentials,
  type CygwinEndpoint,
  type CygwinVariant,
  decodeCredentials,
  encodeCredentials,
  formatCygwinSocketFile,
  parseCygwinSocketFile,
} from './format.js'
import { ignore, readExactly, waitForConnect } from './handshake-io.js'

/** The serving side of a Cygwin/MSYS2 socket file: see format.ts for the file and the handshake. */

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
  readonly alreadyServed: false
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
 * whose port nobody serves with its secret (left by a server that died); if
 * somebody does, the file is left alone and the outcome says so.
 */
export async function listenCygwin(
  file: string,
  onConnection: (socket: net.Socket, peer: CygwinCredentials) => void,
  options: CygwinListenOptions = {},
): Promise<CygwinServer | AlreadyServed> {
  file = path.resolve(file) // close() must find it even if the cwd changes
  const existing = await checkExisting(file, options.log)
  if (existing) return existing
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
    alreadyServed: false,
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

/**
 * The file holds the port and the secret: whoever reads it can connect and
 * use the agent. On POSIX it is born 0600. On Windows the mode means
 * nothing and a file fs creates takes its folder's ACL, so it is created
 * empty with a user-only, protected DACL first (win32/private-file.ts) and
 * only then written: the secret is never in a file others may read.
 */
async function writeSocketFile(file: string, content: Buffer, variant: CygwinVariant): Promise<void> {
  try {
    if (process.platform === 'win32') await createPrivateSocketFile(file, variant)
    await fs.writeFile(file, content, process.platform === 'win32' ? { flag: 'r+' } : { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') await fs.rm(file, { force: true })
    const why = errorCode(err) === 'EEXIST' ? 'another listener created it just now' : describeCode(err)
    throw new RelayError(`cannot create ${file}: ${why}`, ExitCode.ERROR)
  }
}

// Cygwin clients ignore a socket file without SYSTEM; gpg-agent's 8-byte
// servers have none, and clients tell the variants apart by it.
async function createPrivateSocketFile(file: string, variant: CygwinVariant): Promise<void> {
  await createPrivateFile(file, variant === 'cygwin' ? FILE_ATTRIBUTE_SYSTEM : FILE_ATTRIBUTE_NORMAL)
}

/**
 * What is at `file` before we listen: nothing (undefined), a live server's
 * file (its outcome), or a stale file, which is removed. Anything that is
 * not a socket file is refused.
 *
 * The handshake cannot tell who serves the port: the client sends the
 * secret first and the server only echoes it, so any program that echoes
 * (or a port since taken by another program that does) looks live. So,
 * where the system tells (Linux), the file and every listener on its port
 * must belong to this user; otherwise the address is refused (exit 4),
 * since another user's listener would receive our clients' requests.
 */
async function checkExisting(file: string, log: Log | undefined): Promise<AlreadyServed | undefined> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined
    throw new RelayError(`cannot listen on ${file}: cannot read what is there (${describeCode(err)})`, ExitCode.ERROR)
  }
  let endpoint: CygwinEndpoint
  try {
    endpoint = parseCygwinSocketFile(bytes, file)
  } catch (err) {
    throw new RelayError(`${file} exists and is not a Cygwin socket file; refusing to replace it (${messageOf(err)})`, ExitCode.ERROR)
  }
  const fileOwner = await foreignFileOwner(file)
  if (fileOwner !== undefined) throw servedByAnotherUser(file, 'a socket file', fileOwner)
  if (await answersWithSecret(endpoint)) {
    const portOwner = await foreignPortOwner(endpoint.port)
    if (portOwner !== undefined) throw servedByAnotherUser(file, `a listener on 127.0.0.1 port ${endpoint.port}`, portOwner)
    return alreadyServed(`the server on 127.0.0.1 port ${endpoint.port}`)
  }
  log?.debug(`removing stale socket file ${file}`)
  await fs.rm(file, { force: true })
  return undefined
}

/** Does a server of this user answer, with its secret, on the port `file` names? */
export async function isLiveCygwin(file: string): Promise<boolean> {
  try {
    if ((await foreignFileOwner(file)) !== undefined) return false
    const endpoint = parseCygwinSocketFile(await fs.readFile(file), file)
    if ((await foreignPortOwner(endpoint.port)) !== undefined) return false
    return await answersWithSecret(endpoint)
  } catch {
    return false
  }
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

export const cygwinListener: ListenerKind = {
  what: 'Cygwin socket file',
  listen: async (address, onConnection, { log }) => {
    const dir = path.dirname(path.resolve(address))
    preparePrivateDirectory(dir, address, log)
    await warnIfSharedFolder(dir, log)
    return listenCygwin(address, onConnection, { log })
  },
  isLive: isLiveCygwin,
}
