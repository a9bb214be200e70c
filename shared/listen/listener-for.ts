import { isPipeName } from '../channels/named-pipe/client.js'
import type { PageantServeOptions } from '../channels/pageant/server.js'
import type { ListenerKind } from './listener.js'
import { type ActivatedSocket, activatedListener } from './socket-activation.js'

/**
 * The kind of listener an address needs: a pipe name is a named pipe;
 * `--cygwin` a Cygwin socket file; any other path a Unix socket, which on
 * Windows is Winsock's AF_UNIX; `--pageant` Pageant's pipe and window; a
 * socket systemd handed over (`activated`) wins over them all. Loaded on
 * demand: a Linux listener never loads the Win32 bindings.
 */
export async function listenerFor(
  address: string,
  options: { cygwin: boolean; pageant?: PageantServeOptions | undefined; activated?: readonly ActivatedSocket[] },
): Promise<ListenerKind> {
  if (options.activated?.length) return activatedListener(options.activated)
  if (options.pageant) return (await import('../channels/pageant/server.js')).pageantListener(options.pageant)
  if (isPipeName(address)) return (await import('../channels/named-pipe/server.js')).namedPipeListener
  if (options.cygwin) return (await import('../channels/cygwin/server.js')).cygwinListener
  if (process.platform === 'win32') return (await import('../channels/af-unix/server.js')).afUnixListener
  return (await import('../channels/unix/server.js')).unixListener
}
