import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { ExitCode } from '../../exit-codes.js'
import type { Log } from '../../log.js'
import { RelayError, errorCode, messageOf } from '../../relay-error.js'

/**
 * The listening side on Linux, WSL and macOS: a Unix socket that only its
 * user can use.
 *
 * - Private: missing parent directories are created 0700, and the socket is
 *   born 0600 (umask held at 0177 while it is bound, so there is no window
 *   in which it is open to others).
 * - A socket file left by a listener that died (connect says ECONNREFUSED)
 *   is replaced; a live one means the job is already done, which makes
 *   `relay-listen … &` in a shell profile idempotent.
 * - Anything else at that path (a regular file, a directory) is left alone.
 */

/** Result of trying to listen: our server, or proof that someone already serves the path. */
export type ListenResult = { server: net.Server } | { alreadyServed: true }

export async function listenUnix(
  socketPath: string,
  onConnection: (socket: net.Socket) => void,
  log: Log,
): Promise<ListenResult> {
  prepareDirectory(path.dirname(socketPath), log)
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = lstatOrUndefined(socketPath)
    if (existing) {
      if (!existing.isSocket()) {
        throw new RelayError(`${socketPath} exists and is not a socket; refusing to replace it`, ExitCode.ERROR)
      }
      if (await isLive(socketPath)) return { alreadyServed: true }
      log.debug(`removing stale socket ${socketPath}`)
      fs.rmSync(socketPath, { force: true })
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection)
    try {
      await bindPrivately(server, socketPath)
      return { server }
    } catch (err) {
      // Another listener bound it between our check and our bind: look again.
      if (errorCode(err) !== 'EADDRINUSE') throw new RelayError(`cannot listen on ${socketPath}: ${messageOf(err)}`, ExitCode.ERROR)
    }
  }
  throw new RelayError(`cannot listen on ${socketPath}: it keeps being taken`, ExitCode.ERROR)
}

function prepareDirectory(dir: string, log: Log): void {
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    return
  }
  const st = fs.statSync(dir)
  const sticky = (st.mode & 0o1000) !== 0
  if ((st.mode & 0o022) !== 0 && !sticky) {
    log.error(`warning: ${dir} is writable by other users, who could replace the socket; prefer a private directory such as ~/.ssh`)
  }
}

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
      fs.chmodSync(socketPath, 0o600)
      resolve()
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
