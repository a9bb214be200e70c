import { closeSync, openSync, readSync, statSync, type Stats } from 'node:fs'
import { resolve } from 'node:path'
import type { Duplex } from 'node:stream'
import { NoAfUnixError } from './af-unix/no-af-unix-error.js'
import { SOCKET_COOKIE } from './cygwin/format.js'
import { ExitCode } from '../exit-codes.js'
import type { CygwinVariantChoice } from './cygwin/variant-flag.js'
import { RelayError } from '../relay-error.js'
import { connectUnix, describeUnixError, unixRetryable } from './unix/client.js'

/**
 * What "a socket path" means depends on who made it: a real Unix socket, a
 * Cygwin/MSYS2 socket file (`!<socket >PORT s …`, Git for Windows' ssh,
 * gpg-agent's S.gpg-agent.ssh) or a libassuan socket file (`PORT\n` +
 * nonce, gpg-agent on Windows). The last two are regular files naming a TCP
 * port on 127.0.0.1; the file's first bytes say which.
 *
 * Only the code of the kind found is loaded (dynamic imports): a relay to a
 * plain Unix socket starts without evaluating the Cygwin, libassuan or
 * Windows AF_UNIX clients, nor the Win32 bindings they pull in.
 */
export type PathKind = 'unix' | 'cygwin' | 'assuan' | 'directory'

export function pathKind(path: string): PathKind {
  let st: Stats
  try {
    st = statSync(path)
  } catch {
    return 'unix' // missing: the Unix error says so best
  }
  if (st.isDirectory()) return 'directory'
  if (!st.isFile()) return 'unix'
  const head = Buffer.alloc(SOCKET_COOKIE.length)
  try {
    const fd = openSync(path, 'r')
    try {
      readSync(fd, head, 0, head.length, 0)
    } finally {
      closeSync(fd)
    }
  } catch {
    return 'unix' // not readable as a file: a Windows AF_UNIX socket file (a reparse point) is not
  }
  return head.toString('latin1') === SOCKET_COOKIE ? 'cygwin' : 'assuan'
}

/** How {@link connectPath} connects. */
export interface PathConnectOptions {
  /** For a Cygwin socket file: the credential exchange (default `auto`, the guess). */
  cygwinVariant?: CygwinVariantChoice
  platform?: NodeJS.Platform
}

/**
 * Connect to `path` whatever its kind; errors are RelayErrors naming the
 * fix. On Windows a path that is not a Cygwin or libassuan file is an
 * AF_UNIX socket, which libuv cannot reach there (`net.connect(path)` means
 * a named pipe on Windows): Winsock's, through af-unix.ts.
 */
export async function connectPath(path: string, options: PathConnectOptions = {}): Promise<Duplex> {
  const { cygwinVariant = 'auto', platform = process.platform } = options
  const kind = pathKind(path)
  if (kind === 'directory') throw new RelayError(`${path} is a directory, not a socket: give the path of the socket inside it`, ExitCode.UNAVAILABLE)
  try {
    if (kind === 'cygwin') {
      const { connectCygwin } = await import('./cygwin/client.js')
      return await connectCygwin(path, { variant: cygwinVariant })
    }
    if (kind === 'assuan') {
      const { connectAssuan } = await import('./assuan/client.js')
      return await connectAssuan(path)
    }
    if (platform === 'win32') {
      const [{ connectAfUnix }, { afUnixHost }] = await Promise.all([import('./af-unix/af-unix.js'), import('../win32/af-unix-host.js')])
      return await connectAfUnix(resolve(path), await afUnixHost())
    }
    return await connectUnix(path)
  } catch (err) {
    throw err instanceof RelayError ? err : describeUnixError(path, err)
  }
}

/**
 * With `-p`: the thing behind the path is not there yet. The Cygwin,
 * libassuan and AF_UNIX clients say so with a RelayError UNAVAILABLE (their
 * own `…Retryable` predicates), so this needs none of their code.
 */
export function pathRetryable(err: unknown): boolean {
  if (err instanceof NoAfUnixError) return false // waiting will not give Windows AF_UNIX
  return unixRetryable(err) || (err instanceof RelayError && err.exitCode === ExitCode.UNAVAILABLE)
}
