import fs from 'node:fs'
import os from 'node:os'
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'

/**
 * Who owns what a listener finds already at its address. "Already served"
 * means "nothing to do" only when the server is this user's: a socket or a
 * port another user holds at a path we were told to serve would receive our
 * clients' agent requests. POSIX only: Windows has no uids, and there the
 * checks below answer "cannot tell" (undefined).
 */

/** This process's uid, or undefined where there are none (Windows). */
export function ourUid(): number | undefined {
  return process.getuid?.()
}

/** `uid 65534 (nobody)`: the uid and, where /etc/passwd names it, the name. */
export function describeUid(uid: number): string {
  let name: string | undefined
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , id] = line.split(':')
      if (id === String(uid)) {
        name = user
        break
      }
    }
  } catch {
    // No passwd file (containers, macOS directory services): the number alone.
  }
  return name ? `uid ${uid} (${name})` : `uid ${uid}`
}

/** True when `uid` is known and is not ours. */
export function isForeign(uid: number | undefined): uid is number {
  const ours = ourUid()
  return uid !== undefined && ours !== undefined && uid !== ours
}

/**
 * The RelayError (exit 4, REFUSED) for `address` served by `uid`, which is
 * not ours. `what` says what it is ("a listener on 127.0.0.1 port 40000").
 */
export function servedByAnotherUser(address: string, what: string, uid: number): RelayError {
  return new RelayError(
    `${address} is already served, by ${what} of ${describeUid(uid)}, not by you (${describeUid(ourUid() ?? -1)}): ` +
      `it would receive your agent requests; choose a path in a folder of your own (e.g. under ~/.ssh), or find out why that user serves it`,
    ExitCode.REFUSED,
  )
}

/**
 * Clients of a socket file that names a 127.0.0.1 port (Cygwin, libassuan)
 * send its secret to whoever listens there: a port freed by a crashed
 * server may since have been bound by another user. Refused (exit 4) where
 * the system tells the listener's uid (Linux) and it is not ours.
 */
export function refuseForeignPort(port: number, file: string): void {
  const uid = loopbackListenerUids(port)?.find(isForeign)
  if (uid === undefined) return
  throw new RelayError(
    `${file} names 127.0.0.1 port ${port}, where a listener of ${describeUid(uid)} waits, not yours: the file is stale and another user took the port; refusing to send it the secret (restart the server that should write ${file})`,
    ExitCode.REFUSED,
  )
}

/**
 * The uids of the TCP sockets listening on `port` where a connection to
 * 127.0.0.1 would land (127.0.0.1, 0.0.0.0, ::, ::ffff:127.0.0.1), from
 * Linux's /proc/net/tcp and tcp6 (the `uid` column). Undefined where there
 * is no /proc/net/tcp (not Linux): nobody can tell.
 */
export function loopbackListenerUids(port: number): number[] | undefined {
  if (process.platform !== 'linux') return undefined
  const uids: number[] = []
  let found = false
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = fs.readFileSync(table, 'utf8')
    } catch {
      continue // no IPv6 in this kernel
    }
    found = true
    for (const line of text.split('\n').slice(1)) {
      const listener = parseListener(line)
      if (listener && listener.port === port && reachesLoopback(listener.address)) uids.push(listener.uid)
    }
  }
  return found ? uids : undefined
}

const TCP_LISTEN = '0A'

// `  0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  65534 0 123 …`
//  sl  local address  remote        st tx:rx             tr:when     retrnsmt  uid
function parseListener(line: string): { address: Buffer; port: number; uid: number } | undefined {
  const cols = line.trim().split(/\s+/)
  const [local, , state, , , , uid] = cols.slice(1)
  if (state !== TCP_LISTEN || local === undefined || uid === undefined) return undefined
  const [hex, portHex] = local.split(':')
  if (hex === undefined || portHex === undefined) return undefined
  return { address: addressBytes(hex), port: parseInt(portHex, 16), uid: Number(uid) }
}

// The kernel prints each 32-bit word of the address as it lies in memory,
// read as a host-order integer: turn the words back into bytes.
function addressBytes(hex: string): Buffer {
  const out = Buffer.alloc(hex.length / 2)
  for (let i = 0; i < hex.length / 8; i++) {
    const word = parseInt(hex.slice(i * 8, i * 8 + 8), 16)
    if (os.endianness() === 'LE') out.writeUInt32LE(word, i * 4)
    else out.writeUInt32BE(word, i * 4)
  }
  return out
}

const LOOPBACK = Buffer.from([127, 0, 0, 1])
const ANY4 = Buffer.alloc(4)
const V4_MAPPED = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])

function reachesLoopback(address: Buffer): boolean {
  if (address.length === 4) return address.equals(LOOPBACK) || address.equals(ANY4)
  if (address.equals(Buffer.alloc(16))) return true // [::] takes IPv4 too unless IPV6_V6ONLY
  return address.subarray(0, 12).equals(V4_MAPPED) && address.subarray(12).equals(LOOPBACK)
}
