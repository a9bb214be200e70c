import fs from 'node:fs'
import net from 'node:net'
import { ExitCode } from '../exit-codes.js'
import { RelayError, messageOf } from '../relay-error.js'
import { isLive } from '../channels/unix/server.js'
import type { ListenerKind } from './listener.js'

/**
 * systemd socket activation: the service manager (or
 * `systemd-socket-activate`) binds the socket itself, so it exists from
 * login on, and starts relay-listen on the first connection with the
 * listening socket already open.
 *
 * The hand-over, as sd_listen_fds(3) defines it: descriptors start at 3
 * (SD_LISTEN_FDS_START), `LISTEN_FDS` says how many, `LISTEN_PID` names the
 * process they are meant for (a child that inherited the variables must not
 * take them for its own), `LISTEN_FDNAMES` optionally names them
 * (colon-separated, `FileDescriptorName=` in the .socket unit). The
 * variables are removed from the environment whatever they said, so the
 * relays and commands we start never see them.
 *
 * The socket belongs to systemd: closing stops accepting but never unlinks
 * the file (systemd keeps listening on it and starts us again).
 */

/** sd-daemon.h: the first passed descriptor. */
export const SD_LISTEN_FDS_START = 3

/** One descriptor handed over, with its `FileDescriptorName=`, if any. */
export interface ActivatedSocket {
  readonly fd: number
  readonly name: string | undefined
}

const VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const

/**
 * The sockets handed to process `pid` (sd_listen_fds with
 * unset_environment), taking the variables out of `env`. Empty when
 * nothing was handed over or the hand-over was meant for another process.
 */
export function takeActivatedSockets(env: NodeJS.ProcessEnv, pid: number): ActivatedSocket[] {
  const [forPid, count, names] = VARIABLES.map((v) => env[v])
  for (const v of VARIABLES) delete env[v]
  if (forPid === undefined || count === undefined) return []
  if (!/^\d+$/.test(forPid) || Number(forPid) !== pid) return []
  if (!/^\d+$/.test(count)) {
    throw new RelayError(`LISTEN_FDS=${count} is not a number of sockets: whatever started relay-listen handed its sockets over wrongly`, ExitCode.USAGE)
  }
  const nameList = names === undefined ? [] : names.split(':')
  return Array.from({ length: Number(count) }, (_, i) => ({ fd: SD_LISTEN_FDS_START + i, name: nameList[i] || undefined }))
}

/**
 * The one socket relay-listen serves. Several are refused: each address
 * wants its own relay-listen (its own .socket unit), and picking one by
 * guess would serve the wrong agent.
 */
function onlySocket(sockets: readonly ActivatedSocket[], address: string): ActivatedSocket {
  const [first, ...rest] = sockets
  if (first && rest.length === 0) return first
  const names = sockets.map((s) => s.name ?? `fd ${s.fd}`).join(', ')
  throw new RelayError(
    `systemd handed over ${sockets.length} sockets (${names}) for ${address}; relay-listen serves one: give each address its own .socket unit`,
    ExitCode.USAGE,
  )
}

/**
 * The listener kind for a socket systemd handed over. `address` is the
 * path the .socket unit listens on, named in messages and used by isLive.
 */
export function activatedListener(sockets: readonly ActivatedSocket[]): ListenerKind {
  return {
    what: 'socket handed over by systemd',
    isLive: (address) => isLive(address),
    listen: async (address, onConnection, { log }) => {
      const { fd, name } = onlySocket(sockets, address)
      if (!isSocketFd(fd)) {
        throw new RelayError(`LISTEN_FDS says descriptor ${fd} was handed over for ${address}, but it is not an open socket`, ExitCode.USAGE)
      }
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection)
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new RelayError(`cannot serve the socket systemd handed over for ${address}: ${messageOf(err)}`, ExitCode.ERROR)))
        server.listen({ fd }, resolve)
      })
      // A TCP socket here would put the agent on the network.
      if (typeof server.address() === 'object' && server.address() !== null) {
        server.close()
        throw new RelayError(`the socket systemd handed over for ${address} is a TCP/IP socket; relay-listen serves Unix sockets only (ListenStream= must be a path)`, ExitCode.USAGE)
      }
      log.debug(`serving ${address} from systemd (fd ${fd}${name ? `, ${name}` : ''})`)
      // close() stops accepting at once; nothing to unlink: the file is systemd's.
      return { alreadyServed: false, close: async () => void server.close() }
    },
  }
}

function isSocketFd(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isSocket()
  } catch {
    return false
  }
}
