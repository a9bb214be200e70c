import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { ExitCode } from '../../exit-codes.js'
import type { Log } from '../../log.js'
import { RelayError, errorCode } from '../../relay-error.js'
import { type ListenOutcome, type ListenerKind, alreadyServed } from '../../listen/listener.js'
import { describeCode, preparePrivateDirectory } from '../private-directory.js'
import { isForeign, servedByAnotherUser } from '../owner.js'
import { withPathLock } from './path-lock.js'

/**
 * The listening side on Linux, WSL and macOS: a Unix socket that only its
 * user can use.
 *
 * - Private: missing parent directories are created 0700, and the socket is
 *   born 0600 (umask held at 0177 while it is bound, so there is no window
 *   in which it is open to others).
 * - A socket file left by a listener that died (connect says ECONNREFUSED)
 *   is replaced; a live one of this user means the job is already done,
 *   which makes `relay-listen … &` in a shell profile idempotent. A live
 *   socket another uid owns is refused (exit 4): in a shared folder such as
 *   /tmp anyone can bind the path first and receive our clients' requests.
 * - Anything else at that path (a regular file, a directory) is left alone.
 * - Every way the path can be unusable ends at once in a RelayError naming
 *   the path and the reason.
 */

/**
 * `sizeof(sockaddr_un.sun_path)`, NUL included: 108 on Linux, 104 on macOS
 * and the BSDs. A longer path cannot be bound at all.
 */
export const SUN_PATH_SIZE = process.platform === 'linux' ? 108 : 104

export const unixListener: ListenerKind = {
  what: 'Unix socket',
  listen: (address, onConnection, { log }) => listenUnix(address, onConnection, log),
  // Another user's socket never counts: --background must not take it for ours.
  isLive: (address) => {
    const st = lstatOrUndefined(address)
    return st?.isSocket() && !isForeign(st.uid) ? isLive(address) : Promise.resolve(false)
  },
}

export async function listenUnix(socketPath: string, onConnection: (socket: net.Socket) => void, log: Log): Promise<ListenOutcome> {
  const bytes = Buffer.byteLength(socketPath)
  if (bytes > SUN_PATH_SIZE - 1) {
    throw new RelayError(
      `cannot listen on ${socketPath}: the path is ${bytes} bytes, and a Unix socket path holds at most ${SUN_PATH_SIZE - 1}; use a shorter one (e.g. under ~/.ssh)`,
      ExitCode.USAGE,
    )
  }
  preparePrivateDirectory(path.dirname(socketPath), socketPath, log)
  return withPathLock(socketPath, () => bindOrFindServed(socketPath, onConnection, log))
}

async function bindOrFindServed(socketPath: string, onConnection: (socket: net.Socket) => void, log: Log): Promise<ListenOutcome> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = lstatOrUndefined(socketPath)
    if (existing) {
      if (existing.isDirectory()) {
        throw new RelayError(`cannot listen on ${socketPath}: it is a directory; name a socket inside it, e.g. ${path.join(socketPath, 'agent.sock')}`, ExitCode.ERROR)
      }
      if (!existing.isSocket()) {
        throw new RelayError(`${socketPath} exists and is not a socket; refusing to replace it`, ExitCode.ERROR)
      }
      if (await isLive(socketPath)) {
        if (isForeign(existing.uid)) throw servedByAnotherUser(socketPath, 'a listener', existing.uid)
        return alreadyServed('a listener of this user')
      }
      log.debug(`removing stale socket ${socketPath}`)
      try {
        fs.rmSync(socketPath, { force: true })
      } catch (err) {
        throw new RelayError(`cannot listen on ${socketPath}: cannot remove the stale socket there (${describeCode(err)})`, ExitCode.ERROR)
      }
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection)
    try {
      await bindPrivately(server, socketPath)
      return { alreadyServed: false, close: async () => void server.close() }
    } catch (err) {
      server.close()
      // Another listener bound it between our check and our bind: look again.
      if (errorCode(err) !== 'EADDRINUSE') throw new RelayError(`cannot listen on ${socketPath}: ${describeCode(err)}`, ExitCode.ERROR)
    }
  }
  throw new RelayError(`cannot listen on ${socketPath}: it keeps being taken`, ExitCode.ERROR)
}

/**
 * Bind with a umask that makes the socket 0600 from birth. (Closing the
 * server unlinks the file at once: libuv does it in uv_close. Its 'close'
 * event waits for open connections, which are the caller's: not awaited.)
 */
function bindPrivately(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const previous = process.umask(0o177)
    const restore = () => process.umask(previous)
    server.once('error', (err) => {
      restore()
      reject(err)
    })
    server.listen(socketPath, () => {
      restore()
      try {
        fs.chmodSync(socketPath, 0o600)
        resolve()
      } catch (err) {
        reject(err) // the caller's server.close() unlinks the socket
      }
    })
  })
}

/** Does a listener answer on this socket? */
export function isLive(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath)
    const done = (live: boolean) => {
      clearTimeout(timer)
      probe.destroy()
      resolve(live)
    }
    const timer = setTimeout(() => done(true), timeoutMs) // accepted but slow: somebody is there
    probe.once('connect', () => done(true))
    probe.once('error', () => done(false))
  })
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p)
  } catch {
    return undefined
  }
}
