import { ExitCode } from '../../exit-codes.js'
import { RelayError } from '../../relay-error.js'

/**
 * The system has no AF_UNIX at all: waiting (`-p`) will not help. A file of
 * its own so that deciding whether to retry a socket path
 * (socket-path.ts) does not load the AF_UNIX code on systems that never
 * use it.
 */
export class NoAfUnixError extends RelayError {
  constructor() {
    super(
      'this Windows has no AF_UNIX sockets (they need Windows 10 1803 or later; Wine has none); use a named pipe //./pipe/NAME instead',
      ExitCode.UNAVAILABLE,
    )
  }
}
