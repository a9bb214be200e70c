import { type NetConnectOpts, type Socket, connect } from 'node:net'

/**
 * `net.connect` as a promise: resolves with the socket once connected,
 * rejects with the connect error (ENOENT, ECONNREFUSED …) for the caller to
 * turn into a message that names the fix. Later errors are the caller's.
 */
export function connectSocket(options: NetConnectOpts): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(options)
    socket.once('connect', () => {
      socket.removeListener('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}
