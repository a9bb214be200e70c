import fs from 'node:fs'
import os from 'node:os'
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'
import { recentAnswers } from './recent-answers.js'

/**
 * Who owns what a listener finds already at its address. "Already served"
 * means "nothing to do" only when the server is this user's: a socket or a
 * port another user holds at a path we were told to serve would receive our
 * clients' agent requests. On POSIX the owner is a uid; on Windows a SID
 * (a file's owner; a port's listening process's token user), and the user,
 * SYSTEM and Administrators count as ours (an administrator can read our
 * memory anyway; an elevated process of ours makes files Administrators own).
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
 * The RelayError (exit 4, REFUSED) for `address` served by `who` (a uid, or
 * a description such as a SID), which is not us. `what` says what it is
 * ("a listener on 127.0.0.1 port 40000").
 */
export function servedByAnotherUser(address: string, what: string, who: number | string): RelayError {
  const them = typeof who === 'number' ? describeUid(who) : who
  const us = process.platform === 'win32' ? 'you' : `you (${describeUid(ourUid() ?? -1)})`
  return new RelayError(
    `${address} is already served, by ${what} of ${them}, not by ${us}: ` +
      `it would receive your agent requests; choose a path in a folder of your own (e.g. under ~/.ssh), or find out why that user serves it`,
    ExitCode.REFUSED,
  )
}

/**
 * Clients of a socket file that names a 127.0.0.1 port (Cygwin, libassuan)
 * send its secret to whoever listens there: a port freed by a crashed
 * server may since have been bound by another user. Refused (exit 4) where
 * the system tells the listener's user and it is not ours.
 */
export async function refuseForeignPort(port: number, file: string): Promise<void> {
  const who = await foreignPortOwner(port)
  if (who === undefined) return
  throw new RelayError(
    `${file} names 127.0.0.1 port ${port}, where a listener of ${who} waits, not yours: the file is stale and another user took the port; refusing to send it the secret (restart the server that should write ${file})`,
    ExitCode.REFUSED,
  )
}

/**
 * Who, other than us, listens on `port` where a connection to 127.0.0.1
 * would land: `uid 65534 (nobody)` on Linux, the SID on Windows, or
 * undefined when nobody else does (or the system cannot tell: not Linux,
 * not Windows).
 */
export async function foreignPortOwner(port: number): Promise<string | undefined> {
  if (process.platform === 'win32') return foreignWindowsPortOwner(port)
  const uid = loopbackListenerUids(port)?.find(isForeign)
  return uid === undefined ? undefined : describeUid(uid)
}

/** Connections made within a second share one look at the port (recent-answers.ts says why). */
const foreignWindowsPortOwner = recentAnswers(1000, async (port: number): Promise<string | undefined> => {
  const [{ tcpListeners }, { currentUserSid, processUserSid }] = await Promise.all([import('../win32/tcp-listeners.js'), import('../win32/security.js')])
  return foreignListener(port, await tcpListeners(), processUserSid, await currentUserSid())
})

/**
 * Of `listeners` (GetExtendedTcpTable's rows), the first one on `port` that
 * 127.0.0.1 reaches whose process is not `me`'s ({@link trustedOwnerSid}):
 * its SID, or a description when its token cannot be read (another user's
 * process keeps us out: not ours). Process id 0 is no process (Windows'
 * idle process never listens); Wine reports it for every socket, so
 * there nothing can be told.
 */
export async function foreignListener(
  port: number,
  listeners: readonly { address: Buffer; port: number; pid: number }[],
  userOf: (pid: number) => Promise<string | undefined>,
  me: string,
): Promise<string | undefined> {
  for (const listener of listeners) {
    if (listener.port !== port || listener.pid === 0 || !reachesLoopback(listener.address)) continue
    const sid = await userOf(listener.pid)
    if (sid === undefined) return `process ${listener.pid} (whose user we may not read)`
    if (!trustedOwnerSid(sid, me)) return sid
  }
  return undefined
}

/**
 * Who, other than us, owns `file` itself (not what a link names): `uid N`
 * on POSIX, the owner SID on Windows; undefined when it is ours.
 */
export async function foreignFileOwner(file: string): Promise<string | undefined> {
  if (process.platform === 'win32') {
    const { currentUserSid, fileSecuritySddl, parseSddl } = await import('../win32/security.js')
    const [sddl, me] = await Promise.all([fileSecuritySddl(file), currentUserSid()])
    const owner = parseSddl(sddl).owner ?? ''
    return trustedOwnerSid(owner, me) ? undefined : owner || 'nobody'
  }
  const { uid } = await fs.promises.lstat(file)
  return isForeign(uid) ? describeUid(uid) : undefined
}

/** SDDL's aliases and SIDs of SYSTEM and Administrators. */
const SYSTEM_SIDS = ['SY', 'S-1-5-18', 'BA', 'S-1-5-32-544']

/**
 * Is a Windows object owned by `owner` (a SID or SDDL alias) ours, for user
 * `userSid`? The user's own, or SYSTEM's or Administrators' (services run
 * as LocalSystem; an elevated process of ours makes objects Administrators
 * own; no other user can be either without being an administrator, who can
 * read our memory anyway).
 */
export function trustedOwnerSid(owner: string, userSid: string): boolean {
  return owner === userSid || SYSTEM_SIDS.includes(owner)
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
