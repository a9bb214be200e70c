import fs from 'node:fs'
import type net from 'node:net'
import { assuanRetryable, connectAssuan } from '../../shared/assuan.js'
import { SOCKET_COOKIE, connectCygwin, cygwinRetryable } from '../../shared/cygwin-socket.js'
import { RelayError } from '../../shared/relay-error.js'
import { connectUnix, describeUnixError, unixRetryable } from './connect-unix.js'

/**
 * What "a socket path" means depends on who made it: a real Unix socket, a
 * Cygwin/MSYS2 socket file (`!<socket >PORT s …`, Git for Windows' ssh,
 * gpg-agent's S.gpg-agent.ssh) or a libassuan socket file (`PORT\n` +
 * nonce, gpg-agent on Windows). The last two are regular files naming a TCP
 * port on 127.0.0.1; the file's first bytes say which.
 */
export type PathKind = 'unix' | 'cygwin' | 'assuan'

export function pathKind(path: string): PathKind {
  let st: fs.Stats
  try {
    st = fs.statSync(path)
  } catch {
    return 'unix' // missing: the Unix error says so best
  }
  if (!st.isFile()) return 'unix'
  const head = Buffer.alloc(SOCKET_COOKIE.length)
  const fd = fs.openSync(path, 'r')
  try {
    fs.readSync(fd, head, 0, head.length, 0)
  } finally {
    fs.closeSync(fd)
  }
  return head.toString('latin1') === SOCKET_COOKIE ? 'cygwin' : 'assuan'
}

/** Connect to `path` whatever its kind; errors are RelayErrors naming the fix. */
export async function connectPath(path: string): Promise<net.Socket> {
  const kind = pathKind(path)
  try {
    if (kind === 'cygwin') return await connectCygwin(path)
    if (kind === 'assuan') return await connectAssuan(path)
    return await connectUnix(path)
  } catch (err) {
    throw err instanceof RelayError ? err : describeUnixError(path, err)
  }
}

/** With `-p`: the thing behind the path is not there yet. */
export function pathRetryable(err: unknown): boolean {
  return unixRetryable(err) || cygwinRetryable(err) || assuanRetryable(err) || (err instanceof RelayError && err.exitCode === 3)
}
