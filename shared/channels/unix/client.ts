import type net from 'node:net'
import { connectSocket } from '../connect-socket.js'
import { ExitCode } from '../../exit-codes.js'
import { RelayError, errorCode, messageOf } from '../../relay-error.js'

/**
 * Client side of a Unix domain socket (Linux, macOS, WSL). Sockets shut
 * down for writing, so the pump half-closes them at stdin EOF.
 */
export function connectUnix(path: string): Promise<net.Socket> {
  return connectSocket({ path })
}

/** Worth retrying with `-p`: the listener is not there yet. */
export function unixRetryable(err: unknown): boolean {
  const code = errorCode(err)
  return code === 'ENOENT' || code === 'ECONNREFUSED'
}

/** Turn a connect failure into a message that names the fix. */
export function describeUnixError(path: string, err: unknown): RelayError {
  switch (errorCode(err)) {
    case 'ENOENT':
      return new RelayError(
        `no socket at ${path}: is the agent running, and does SSH_AUTH_SOCK (or the path given) point at it?`,
        ExitCode.UNAVAILABLE,
      )
    case 'ECONNREFUSED':
      return new RelayError(
        `nobody is listening on ${path}: it is a stale socket left by an agent or listener that died; restart it`,
        ExitCode.UNAVAILABLE,
      )
    case 'EACCES':
    case 'EPERM':
      return new RelayError(
        `permission denied for ${path}: the socket or its directory belongs to another user`,
        ExitCode.REFUSED,
      )
    case 'ENOTSOCK':
      return new RelayError(`${path} is not a socket`, ExitCode.UNAVAILABLE)
    default:
      return new RelayError(`cannot connect to ${path}: ${messageOf(err)}`, ExitCode.ERROR)
  }
}
