import { Duplex } from 'node:stream'
import { ExitCode } from '../../exit-codes.js'
import type { Log } from '../../log.js'
import { RelayError, messageOf } from '../../relay-error.js'
import { WIN32, WSA, nodeErrorCode } from '../../win32/errors.js'
import { servedByAnotherUser } from '../owner.js'
import { NoAfUnixError } from './no-af-unix-error.js'

export { NoAfUnixError }

/**
 * Windows AF_UNIX stream sockets (Windows 10 1803+), both sides, written
 * against an injected socket API so that everything but the Win32 calls
 * themselves runs, and is tested, on any platform. libuv cannot do AF_UNIX
 * on Windows (`net.connect(path)` there means a named pipe), so the calls
 * come from Winsock through koffi (win32/winsock.ts); tests pass fakes.
 *
 * What this adds over the raw calls:
 * - `struct sockaddr_un` (afunix.h), the address every call takes:
 *
 *       offset 0   uint16  sun_family = AF_UNIX (1), little-endian
 *       offset 2   char    sun_path[108]: the path, UTF-8, NUL-terminated
 *
 *   so a path may have at most 107 bytes; a longer one is refused here, not
 *   silently cut short by the system.
 * - Node stream semantics: one recv in flight while the readable side wants
 *   data (backpressure), writes sent in full one after the other, `end()`
 *   is `shutdown(SD_SEND)` (half-close: the peer reads EOF and may still
 *   answer), recv of 0 bytes is EOF, `destroy()` is closesocket.
 * - The listener mirrors relay-listen's Unix one: a socket file left by a
 *   listener that died (connect is refused) is replaced, a live one means
 *   the job is done already (if the socket file is ours: another user's is
 *   refused, exit 4), anything else at the path is left alone; the
 *   new socket file is made private (a protected DACL granting only the
 *   current user) after bind and before listen, so no client can connect
 *   before it is; close removes the file.
 * - Failures become RelayErrors that name the fix, with exit codes from the
 *   one table.
 */

/** `AF_UNIX` in `sockaddr_un.sun_family`. */
export const AF_UNIX = 1
/** `sizeof(sockaddr_un.sun_path)` */
export const SUN_PATH_SIZE = 108
/** `sizeof(struct sockaddr_un)` */
export const SOCKADDR_UN_SIZE = 2 + SUN_PATH_SIZE
/** The longest path that fits, in UTF-8 bytes: one byte is the NUL. */
export const MAX_PATH_BYTES = SUN_PATH_SIZE - 1

/** A failed socket call: `winError` as Windows said it, `code` as Node would (`ECONNRESET` …). */
export class WinsockError extends Error {
  override name = 'WinsockError'
  readonly code: string
  constructor(
    readonly syscall: string,
    readonly winError: number,
  ) {
    super(`${syscall} failed (Windows error ${winError})`)
    this.code = nodeErrorCode(winError)
  }
}

/** Socket handle as the API hands it out (a Winsock SOCKET). */
export type SocketHandle = number

/**
 * The calls this module needs, shaped like Winsock's: a failure is a thrown
 * (or rejected) {@link WinsockError}. The ones that may wait return promises
 * and must not block the event loop.
 */
export interface SocketApi {
  /** `socket(AF_UNIX, SOCK_STREAM, 0)`. */
  socket(): SocketHandle
  bind(s: SocketHandle, address: Buffer): void
  listen(s: SocketHandle, backlog: number): void
  /** The next connection. Rejects once `s` is closed. */
  accept(s: SocketHandle): Promise<SocketHandle>
  connect(s: SocketHandle, address: Buffer): Promise<void>
  /** Up to `max` bytes; an empty buffer is EOF. At most one per socket at a time. */
  recv(s: SocketHandle, max: number): Promise<Buffer>
  /** Send some of `data`; resolves with how many bytes went (> 0). At most one per socket at a time. */
  send(s: SocketHandle, data: Buffer): Promise<number>
  /** `shutdown(s, SD_SEND)`: the peer reads EOF after what was sent. */
  shutdownSend(s: SocketHandle): void
  /** `closesocket`; what is pending on `s` rejects. */
  close(s: SocketHandle): void
}

/** The file-system side: what is at a path, and the privacy step. */
export interface SocketFiles {
  /** `socket`: an AF_UNIX socket file (on Windows a reparse point); `other`: anything else. */
  kind(path: string): Promise<'missing' | 'socket' | 'other'>
  /** Delete the socket file; no error if it is gone. */
  remove(path: string): Promise<void>
  /** Make the socket file usable by the current user only. */
  makePrivate(path: string): Promise<void>
  /** Who owns the socket file, if not us (on Windows its owner SID, not the user's, SYSTEM's or Administrators'); undefined if ours. */
  foreignOwner(path: string): Promise<string | undefined>
}

/** Everything {@link connectAfUnix} and {@link listenAfUnix} need from the platform. */
export interface AfUnixHost {
  api: SocketApi
  files: SocketFiles
}

/** `struct sockaddr_un` for `path`; a RelayError (USAGE) if it cannot be one. */
export function encodeSockaddrUn(path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8')
  if (bytes.length === 0) throw new RelayError('an AF_UNIX socket path cannot be empty', ExitCode.USAGE)
  if (bytes.includes(0)) throw new RelayError('an AF_UNIX socket path cannot contain a NUL character', ExitCode.USAGE)
  if (bytes.length > MAX_PATH_BYTES) {
    throw new RelayError(
      `the AF_UNIX socket path ${path} is ${bytes.length} bytes long; at most ${MAX_PATH_BYTES} fit (choose a shorter path, e.g. under %USERPROFILE%\\.ssh)`,
      ExitCode.USAGE,
    )
  }
  const address = Buffer.alloc(SOCKADDR_UN_SIZE) // zeroed: the NUL after the path is there
  address.writeUInt16LE(AF_UNIX, 0)
  bytes.copy(address, 2)
  return address
}

/** The path in a `struct sockaddr_un` (up to its NUL). */
export function decodeSockaddrUn(address: Buffer): string {
  const path = address.subarray(2, SOCKADDR_UN_SIZE)
  const nul = path.indexOf(0)
  return path.subarray(0, nul < 0 ? path.length : nul).toString('utf8')
}

/** A socket call failure as a RelayError that names the fix. */
export function describeAfUnixError(path: string, err: unknown): RelayError {
  if (err instanceof RelayError) return err
  if (!(err instanceof WinsockError)) return new RelayError(`AF_UNIX socket ${path}: ${messageOf(err)}`, ExitCode.ERROR)
  const at = `${err.syscall} on ${path}`
  switch (err.code) {
    case 'EAFNOSUPPORT':
      return new NoAfUnixError()
    case 'ECONNREFUSED':
      return new RelayError(
        `nobody is listening on ${path}: it is a stale socket left by an agent or listener that died; restart it`,
        ExitCode.UNAVAILABLE,
      )
    case 'EACCES':
      return new RelayError(
        `permission denied for ${path}: the socket file or its folder belongs to another user, or its ACL does not let you in`,
        ExitCode.REFUSED,
      )
    case 'EADDRINUSE':
      return new RelayError(`${path} is already in use: another listener owns it`, ExitCode.ERROR)
    case 'ECONNRESET':
      return new RelayError(`${at}: the other side reset the connection (Windows error ${err.winError})`, ExitCode.ERROR)
    default:
      return new RelayError(`${at} failed (Windows error ${err.winError})`, ExitCode.ERROR)
  }
}

/** Bytes asked of each recv: what one read of a socket typically has. */
const RECV_SIZE = 64 * 1024

/**
 * A connected AF_UNIX socket as a Node Duplex. Errors keep the
 * {@link WinsockError} `code`s (`ECONNRESET`, `EPIPE` …), so code that treats
 * a peer's departure as a normal end (the pump) does so here too; their
 * messages name the path.
 */
export class AfUnixSocket extends Duplex {
  readonly #api: SocketApi
  readonly #s: SocketHandle
  readonly #path: string
  #reading = false
  #closed = false

  constructor(api: SocketApi, s: SocketHandle, path: string, options: { allowHalfOpen: boolean }) {
    super({ allowHalfOpen: options.allowHalfOpen })
    this.#api = api
    this.#s = s
    this.#path = path
  }

  override _read(): void {
    if (this.#reading || this.#closed) return
    this.#reading = true
    this.#api.recv(this.#s, RECV_SIZE).then(
      (chunk) => {
        this.#reading = false
        if (this.#closed) return
        if (chunk.length === 0) this.push(null)
        else if (this.push(chunk)) this._read()
      },
      (err: unknown) => {
        this.#reading = false
        if (!this.#closed) this.destroy(this.#fail('the connection broke while reading', err))
      },
    )
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#sendAll(chunk).then(
      () => callback(),
      (err: unknown) => callback(this.#fail('the connection broke while writing', err)),
    )
  }

  async #sendAll(bytes: Buffer): Promise<void> {
    while (bytes.length > 0) {
      if (this.#closed) throw new WinsockError('send', WIN32.OPERATION_ABORTED)
      const sent = await this.#api.send(this.#s, bytes)
      if (!(sent > 0)) throw new WinsockError('send', WSA.ESHUTDOWN)
      bytes = bytes.subarray(sent)
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.#api.shutdownSend(this.#s)
      callback()
    } catch (err) {
      // The peer is gone already: nothing left to tell it.
      const code = (err as { code?: string }).code
      callback(code === 'ENOTCONN' || code === 'ECONNRESET' ? null : this.#fail('shutdown failed', err))
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#closed) {
      this.#closed = true
      try {
        this.#api.close(this.#s)
      } catch {
        // Closing is all that is left to do with it; nothing to report.
      }
    }
    callback(error)
  }

  /** Keep the Node `code` (the pump relies on it), put the path and the Windows code in the message. */
  #fail(what: string, err: unknown): Error {
    const e = new Error(`${this.#path}: ${what}: ${messageOf(err)}`) as Error & { code?: string; winError?: number }
    if (err instanceof WinsockError) {
      e.code = err.code
      e.winError = err.winError
    }
    return e
  }
}

/** Open an AF_UNIX socket; the system's lack of AF_UNIX becomes {@link NoAfUnixError}. */
function openSocket(host: AfUnixHost, path: string): SocketHandle {
  try {
    return host.api.socket()
  } catch (err) {
    throw describeAfUnixError(path, err)
  }
}

/**
 * Connect to the AF_UNIX socket at `path`. Rejects with a RelayError that
 * names the fix: no AF_UNIX here, no socket at the path, nobody listening
 * (stale), permission denied.
 */
export async function connectAfUnix(path: string, host: AfUnixHost): Promise<AfUnixSocket> {
  const address = encodeSockaddrUn(path)
  const s = openSocket(host, path)
  try {
    const kind = await host.files.kind(path)
    if (kind === 'missing') {
      throw new RelayError(
        `no socket at ${path}: is the agent running, and does SSH_AUTH_SOCK (or the path given) point at it?`,
        ExitCode.UNAVAILABLE,
      )
    }
    await host.api.connect(s, address)
  } catch (err) {
    host.api.close(s)
    throw describeAfUnixError(path, err)
  }
  return new AfUnixSocket(host.api, s, path, { allowHalfOpen: false })
}

/** Worth retrying with `-p`: the socket is not there yet, or nobody listens yet. */
export function afUnixRetryable(err: unknown): boolean {
  return err instanceof RelayError && !(err instanceof NoAfUnixError) && err.exitCode === ExitCode.UNAVAILABLE
}

/**
 * Does a listener answer on the socket file at `path`? Refused means stale;
 * any other failure (permission denied …) is thrown, as it says something
 * the caller must not paper over by deleting the file.
 */
export async function isLiveAfUnix(path: string, host: AfUnixHost): Promise<boolean> {
  const address = encodeSockaddrUn(path)
  const probe = openSocket(host, path)
  try {
    await host.api.connect(probe, address)
    return true
  } catch (err) {
    if (err instanceof WinsockError && err.code === 'ECONNREFUSED') return false
    throw describeAfUnixError(path, err)
  } finally {
    host.api.close(probe)
  }
}

/** A listening AF_UNIX socket. */
export interface AfUnixServer {
  readonly path: string
  /** Stop accepting and remove the socket file; open connections are left to their owners. */
  close(): Promise<void>
}

/** Result of trying to listen: our server, or proof that someone already serves the path. */
export type AfUnixListenResult = { server: AfUnixServer } | { alreadyServed: true }

/** How {@link listenAfUnix} listens. */
export interface AfUnixListenOptions {
  log?: Log
  /** Accept failures other than our own close (out of handles …); the listener goes on after a pause. */
  onError?: (error: Error) => void
  /** Pending connections the system keeps; default 128. */
  backlog?: number
}

/**
 * Listen on the AF_UNIX socket `path`, calling `onConnection` with each
 * client (a Duplex that allows half-open: the client's EOF does not end
 * ours). See the module comment for stale and live sockets and privacy.
 */
export async function listenAfUnix(
  path: string,
  onConnection: (socket: AfUnixSocket) => void,
  host: AfUnixHost,
  options: AfUnixListenOptions = {},
): Promise<AfUnixListenResult> {
  const address = encodeSockaddrUn(path)
  const { api, files } = host
  for (let attempt = 0; attempt < 3; attempt++) {
    const s = openSocket(host, path)
    try {
      const existing = await files.kind(path)
      if (existing === 'other') {
        throw new RelayError(`${path} exists and is not a socket; refusing to replace it`, ExitCode.ERROR)
      }
      if (existing === 'socket') {
        // Another user's socket, live or not, is neither ours to call
        // served (it would receive our clients' requests) nor to remove.
        const owner = await files.foreignOwner(path)
        if (owner !== undefined) throw servedByAnotherUser(path, 'an AF_UNIX socket file', owner)
        if (await isLiveAfUnix(path, host)) {
          api.close(s)
          return { alreadyServed: true }
        }
        options.log?.debug(`removing stale socket ${path}`)
        await files.remove(path)
      }
      try {
        api.bind(s, address)
      } catch (err) {
        // Another listener bound it between our look and our bind: look again.
        if (err instanceof WinsockError && err.code === 'EADDRINUSE') {
          api.close(s)
          continue
        }
        throw err
      }
    } catch (err) {
      api.close(s)
      throw describeAfUnixError(path, err)
    }
    // Bound, not listening: connects are refused until the file is private.
    try {
      await files.makePrivate(path)
      api.listen(s, options.backlog ?? 128)
    } catch (err) {
      api.close(s)
      await files.remove(path).catch(() => {})
      throw new RelayError(`cannot make ${path} private to this user and listen: ${messageOf(describeAfUnixError(path, err))}`, ExitCode.ERROR)
    }
    return { server: startAccepting(s, path, onConnection, host, options) }
  }
  throw new RelayError(`cannot listen on ${path}: it keeps being taken`, ExitCode.ERROR)
}

/** Pause after an accept failure that was not our close, so a persistent one does not spin. */
const ACCEPT_RETRY_MS = 100

function startAccepting(
  s: SocketHandle,
  path: string,
  onConnection: (socket: AfUnixSocket) => void,
  host: AfUnixHost,
  options: AfUnixListenOptions,
): AfUnixServer {
  let closed = false
  const loop = async () => {
    while (!closed) {
      let client: SocketHandle
      try {
        client = await host.api.accept(s)
      } catch (err) {
        if (closed) return
        options.onError?.(new Error(`accept on ${path} failed: ${messageOf(err)}`))
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS))
        continue
      }
      if (closed) {
        host.api.close(client)
        return
      }
      try {
        onConnection(new AfUnixSocket(host.api, client, path, { allowHalfOpen: true }))
      } catch (err) {
        options.onError?.(new Error(`connection handler failed: ${messageOf(err)}`))
      }
    }
  }
  void loop()
  return {
    path,
    async close() {
      if (closed) return
      closed = true
      host.api.close(s) // a pending accept rejects
      await host.files.remove(path)
    },
  }
}
