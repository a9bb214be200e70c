import path from 'node:path'
import { type ListenerKind, alreadyServed } from '../../listen/listener.js'
import { preparePrivateDirectory } from '../private-directory.js'
import { isLiveAfUnix, listenAfUnix } from './af-unix.js'

/**
 * relay-listen on Windows for a plain path: a Windows AF_UNIX socket
 * (Winsock's, through af-unix.ts; libuv has none there) behind the listener
 * contract.
 */
export const afUnixListener: ListenerKind = {
  what: 'AF_UNIX socket',
  async listen(address, onConnection, { log }) {
    const full = path.resolve(address)
    preparePrivateDirectory(path.dirname(full), address, log)
    const listening = await listenAfUnix(full, onConnection, await host(), { log, onError: (e) => log.error(e.message) })
    if ('alreadyServed' in listening) return alreadyServed()
    return { alreadyServed: false, close: () => listening.server.close() }
  },
  async isLive(address) {
    const full = path.resolve(address)
    const h = await host()
    // Another user's socket is not ours to call served.
    return (await h.files.foreignOwner(full).catch(() => 'unknown')) === undefined && isLiveAfUnix(full, h).catch(() => false)
  },
}

async function host() {
  const { afUnixHost } = await import('../../win32/af-unix-host.js')
  return afUnixHost()
}
