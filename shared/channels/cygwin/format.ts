import { ExitCode } from '../../exit-codes.js'
import { RelayError } from '../../relay-error.js'

/**
 * Cygwin/MSYS2 emulated Unix sockets, both sides. Git for Windows' ssh and
 * ssh-agent, every MSYS2 program, ssh-pageant and gpg-agent's
 * `S.gpg-agent.ssh` use them: an AF_UNIX stream socket is really TCP on
 * 127.0.0.1, and the "socket" is a file naming the port and a secret.
 *
 * The file (Cygwin's `fhandler_socket_local::bind`; libassuan's
 * `_assuan_sock_bind` writes the same for `S.gpg-agent.ssh`):
 *
 *     "!<socket >" PORT " " TYPE " " W0 "-" W1 "-" W2 "-" W3 NUL
 *
 * PORT is decimal; TYPE is `s` (SOCK_STREAM) or `d` (SOCK_DGRAM, which has
 * no handshake and nothing for a byte relay to do); W0…W3 are the secret's
 * four 32-bit words as `%08x` (readers accept either case). On Windows,
 * Cygwin also sets the SYSTEM attribute, and a Cygwin client refuses a file
 * without it (EBADF): see ../../win32/file-attributes.ts.
 *
 * The handshake on the TCP connection, before any stream byte. The secret
 * travels as the words' memory on x86: each word little-endian, so the
 * file's `aabbccdd-…` is sent as `dd cc bb aa …`.
 *
 *     Cygwin (af_local_connect / af_local_accept, fhandler/socket_local.cc):
 *       client → server  secret, 16 bytes    af_local_send_secret
 *       server checks it; wrong secret: shutdown + close, nothing sent
 *       server → client  secret, 16 bytes    its own copy; the client checks it
 *       client → server  struct ucred, 12    pid, uid, gid (int32, uint32, uint32 LE)
 *       server → client  struct ucred, 12    the server's pid, uid, gid
 *
 *     libassuan (gpg-agent's S.gpg-agent.ssh; _assuan_sock_check_nonce and
 *     _assuan_sock_connect, src/assuan-socket.c):
 *       client → server  secret, 16 bytes
 *       server checks it (wrong: gpg-agent closes the connection)
 *       server → client  the 16 bytes it received (its client never checks them)
 *       client → server  8 bytes: pid (int32 LE), then 4 bytes its client sends as 0
 *       server → client  8 bytes: the server's pid, then the client's bytes 4…7 unchanged
 *
 * libassuan exchanges 8 credential bytes because its comment takes Cygwin's
 * uid_t and gid_t for 16-bit shorts; in Cygwin they are 32 bits
 * (machine/_types.h), so `struct ucred` is 12. Against a libassuan server a
 * 12-byte client gets 8 bytes and waits for 4 that never come, while the
 * server has handed its last 4 bytes to the agent as the start of a
 * request. (Real Cygwin clients do not even get that far: gpg-agent's file
 * lacks the SYSTEM attribute, so they fail with EBADF.) No answer tells the
 * variants apart, only a silence, by which time the 4 extra bytes are in the
 * agent's stream; so we decide before sending, by the attribute: Cygwin's
 * files (and any server Cygwin clients can reach) have SYSTEM, libassuan
 * creates its file FILE_ATTRIBUTE_NORMAL. Off Windows there is no attribute
 * and `auto` means `cygwin`. The attribute does not survive a copy or a
 * sync, so a caller can also say which (variant-flag.ts); a wrong guess
 * ends in a TIMEOUT or REFUSED error that names the flag and the other
 * variant.
 *
 * Credentials are not authenticated by anything: they are whatever the peer
 * claims. OpenSSH's ssh-agent (Cygwin build) accepts a peer whose uid is its
 * own or 0, and we cannot cheaply compute the Cygwin uid of our Windows
 * account, so like libassuan we send uid = gid = 0 unless told otherwise.
 */

/** Every Cygwin socket file starts with this (`SOCKET_COOKIE` in Cygwin's path.h). */
export const SOCKET_COOKIE = '!<socket >'

/** The secret: four 32-bit words. */
export const CYGWIN_SECRET_LEN = 16

/** Which credential exchange the server speaks; see the module comment. */
export type CygwinVariant = 'cygwin' | 'libassuan'

/** Credential bytes each side sends, per variant. */
export const CREDENTIALS_LEN: Readonly<Record<CygwinVariant, number>> = { cygwin: 12, libassuan: 8 }

/** What a socket file says. */
export interface CygwinEndpoint {
  readonly port: number
  /** The 16 bytes as sent on the wire (each word little-endian). */
  readonly secret: Buffer
}

/**
 * Cygwin's `struct ucred`. Nothing vouches for these: each side sends what it
 * likes. In the libassuan variant uid and gid are 16 bits each.
 */
export interface CygwinCredentials {
  pid: number
  uid: number
  gid: number
}

const HEX_WORD = '[0-9a-fA-F]{8}'
const SECRET_RE = new RegExp(`^(${HEX_WORD})-(${HEX_WORD})-(${HEX_WORD})-(${HEX_WORD})$`)

/** Parse a socket file's bytes; throws a {@link RelayError} saying what is wrong. */
export function parseCygwinSocketFile(bytes: Buffer, name: string): CygwinEndpoint {
  const not = `${name} is not a Cygwin/MSYS2 socket file`
  if (bytes.length === 0) {
    // Servers write the file right after creating it: we may be early.
    throw new RelayError(`${name} is empty: the server may still be writing it`, ExitCode.UNAVAILABLE)
  }
  if (!bytes.subarray(0, SOCKET_COOKIE.length).equals(Buffer.from(SOCKET_COOKIE, 'latin1'))) {
    if (/^[0-9]{1,5}\n/.test(bytes.subarray(0, 6).toString('latin1'))) {
      throw new RelayError(
        `${not} but a libassuan one (a port, a newline and a 16-byte nonce: gpg-agent's S.gpg-agent, not S.gpg-agent.ssh); use the Assuan socket channel for it`,
        ExitCode.PROTOCOL,
      )
    }
    throw new RelayError(`${not}: it must start with "${SOCKET_COOKIE}"`, ExitCode.PROTOCOL)
  }
  // A C string: readers stop at the NUL. Tolerate a trailing newline from hand-made files.
  const nul = bytes.indexOf(0, SOCKET_COOKIE.length)
  const text = bytes
    .subarray(SOCKET_COOKIE.length, nul < 0 ? bytes.length : nul)
    .toString('latin1')
    .replace(/\s+$/, '')
  if (new RegExp(`^[0-9]+ ${HEX_WORD}-`).test(text)) {
    throw new RelayError(
      `${name} is an old-style socket file with no socket type after the port (MSYS 1.0 writes these); its handshake is different and not supported`,
      ExitCode.PROTOCOL,
    )
  }
  const head = /^([0-9]+) (\S) (.*)$/s.exec(text)
  if (!head) {
    throw new RelayError(
      `${not}: expected "${SOCKET_COOKIE}PORT s XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX" after the marker`,
      ExitCode.PROTOCOL,
    )
  }
  const [, portText = '', type = '', secretText = ''] = head
  const port = Number(portText)
  if (portText.length > 5 || port < 1 || port > 65535) {
    throw new RelayError(`${not}: port ${portText} is not a TCP port (1-65535)`, ExitCode.PROTOCOL)
  }
  if (type === 'd' || type === 'D') {
    throw new RelayError(
      `${name} is a Cygwin datagram socket (type "${type}"); only stream sockets (type "s") carry a byte stream`,
      ExitCode.PROTOCOL,
    )
  }
  if (type !== 's') {
    throw new RelayError(`${not}: unknown socket type "${type}" (expected "s", a stream socket)`, ExitCode.PROTOCOL)
  }
  const words = SECRET_RE.exec(secretText)
  if (!words) {
    // Not quoted: a near miss would print most of a working secret.
    throw new RelayError(
      `${not}: the secret must be four 8-digit hex numbers joined by "-" (found ${secretText.length} characters that are not)`,
      ExitCode.PROTOCOL,
    )
  }
  const secret = Buffer.alloc(CYGWIN_SECRET_LEN)
  for (let i = 0; i < 4; i++) secret.writeUInt32LE(Number.parseInt(words[i + 1] ?? '', 16), i * 4)
  return { port, secret }
}

/** The bytes of a stream socket file, as Cygwin writes them (lower-case hex, NUL-terminated). */
export function formatCygwinSocketFile(port: number, secret: Buffer): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`not a TCP port: ${port}`)
  if (secret.length !== CYGWIN_SECRET_LEN) throw new RangeError(`the secret must be ${CYGWIN_SECRET_LEN} bytes`)
  const words = [0, 1, 2, 3].map((i) => secret.readUInt32LE(i * 4).toString(16).padStart(8, '0'))
  return Buffer.from(`${SOCKET_COOKIE}${port} s ${words.join('-')}\0`, 'latin1')
}

/** Our credentials on the wire, in the layout of `variant`. */
export function encodeCredentials(c: CygwinCredentials, variant: CygwinVariant): Buffer {
  const b = Buffer.alloc(CREDENTIALS_LEN[variant])
  b.writeUInt32LE(c.pid >>> 0, 0)
  if (variant === 'cygwin') {
    b.writeUInt32LE(c.uid >>> 0, 4)
    b.writeUInt32LE(c.gid >>> 0, 8)
  } else {
    b.writeUInt16LE(c.uid & 0xffff, 4)
    b.writeUInt16LE(c.gid & 0xffff, 6)
  }
  return b
}

/** The peer's credential bytes, read back. */
export function decodeCredentials(b: Buffer, variant: CygwinVariant): CygwinCredentials {
  return variant === 'cygwin'
    ? { pid: b.readInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8) }
    : { pid: b.readInt32LE(0), uid: b.readUInt16LE(4), gid: b.readUInt16LE(6) }
}
