import { ExitCode } from '../../exit-codes.js'
import { type ListenerKind, alreadyServed } from '../../listen/listener.js'
import { RelayError, errorCode, messageOf } from '../../relay-error.js'
import { checkPipeOwner, connectPipe, normalizePipeName } from './client.js'

/**
 * relay-listen on a Windows named pipe (`//./pipe/NAME`): the Win32 server
 * in win32/pipe-server.ts (user-only DACL, remote clients rejected, many
 * instances), behind the listener contract. A name someone already serves
 * cannot be taken over (FILE_FLAG_FIRST_PIPE_INSTANCE), so it is reported
 * as served.
 */
export const namedPipeListener: ListenerKind = {
  what: 'named pipe',
  async listen(address, onConnection, { log }) {
    if (process.platform !== 'win32') {
      throw new RelayError(`${address} is a Windows named pipe: run relaykit.exe on Windows to listen there`, ExitCode.USAGE)
    }
    const { listenNamedPipe } = await import('../../win32/pipe-server.js')
    try {
      const server = await listenNamedPipe(address, onConnection, { onError: (e) => log.error(messageOf(e)) })
      return { alreadyServed: false, close: () => server.close({ destroyConnections: true }) }
    } catch (err) {
      if (errorCode(err) === 'EADDRINUSE') {
        // Served, but "nothing to do" only if by us (or the system): REFUSED otherwise.
        await checkPipeOwner(normalizePipeName(address))
        return alreadyServed()
      }
      throw new RelayError(`cannot listen on ${address}: ${messageOf(err)}`, errorCode(err) === 'EINVAL' ? ExitCode.USAGE : ExitCode.ERROR)
    }
  },
  isLive,
}

/** Does a server of ours answer on the pipe? A busy pipe (every instance taken) has one. */
async function isLive(address: string): Promise<boolean> {
  // Another user's pipe is not ours to call served: connectPipe refuses it.
  const probe = connectPipe(address)
  const timeout = new Promise<boolean>((resolve) => setTimeout(resolve, 1000, true).unref())
  return Promise.race([
    probe.then(
      (socket) => {
        socket.destroy()
        return true
      },
      (err: unknown) => errorCode(err) !== 'ENOENT' && !(err instanceof RelayError && err.exitCode === ExitCode.REFUSED),
    ),
    timeout,
  ])
}
