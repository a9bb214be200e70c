import { type SocketApi, type SocketHandle, WinsockError } from '../channels/af-unix/af-unix.js'
import { type CompletionPort, completionPort, OVERLAPPED_SIZE } from './completion-port.js'
import { WSA } from './errors.js'
import { HANDLE_FLAG_INHERIT, kernel32, LPTR } from './kernel32.js'
import { koffi } from './koffi.js'

/**
 * ws2_32 (Winsock 2) stream sockets through koffi: the calls af-unix.ts
 * needs, shaped as its {@link SocketApi}. Nothing else here: addresses,
 * stream semantics and error messages live in af-unix.ts, where they are
 * tested with fakes (Wine has no AF_UNIX: socket() fails with
 * WSAEAFNOSUPPORT).
 *
 * How each call keeps off the event loop:
 * - recv and send are overlapped reads and writes of the socket handle
 *   (NtReadFile/NtWriteFile, which return their NTSTATUS: WSARecv/WSASend
 *   need WSAGetLastError, which koffi's shared last error can get wrong,
 *   see completion-port.ts) and complete through the process's completion
 *   port, like the named-pipe server: an idle connection holds no thread,
 *   and a read and a write may be pending at once. A read of 0 bytes is the
 *   peer's end. Completions report Win32 errors (ERROR_NETNAME_DELETED for a
 *   reset …), which errors.ts maps to Node codes along with the WSA ones.
 *   Socket handles of Microsoft's own providers (AF_UNIX and TCP) take file
 *   reads and writes; a layered provider (LSP, deprecated since Windows 8)
 *   could refuse them.
 * - connect runs on a non-blocking socket on the main thread and, if it
 *   would block, is polled with select(timeout 0) every few ms; then the
 *   socket is made blocking again (overlapped calls do not need it
 *   non-blocking). AF_UNIX connects complete or fail at once in practice;
 *   the polling only bounds the unusual case (a full backlog).
 * - accept is a blocking accept() run with koffi's `.async` on a libuv pool
 *   thread: one thread per listener for as long as it listens (libuv has 4
 *   by default, shared with fs and dns). closesocket on the listening
 *   socket makes it return, so close() and process exit free the thread.
 *   koffi keeps one "last error" per Node thread, which every `.async` call
 *   that ends on a pool thread overwrites; so a WSAGetLastError read after
 *   a failed call (accept, connect …) can see another call's error. An
 *   accept ended by close() is reported as cancelled without asking. For
 *   other failed accepts only the text of a logged failure can be wrong.
 *   For connect, an async call ending right after it could make "in
 *   progress" look like a failure (the connection then fails) or the
 *   reverse (it then waits for the connect timeout). Reads and writes do
 *   not depend on it.
 * - Everything else is a quick synchronous call.
 *
 * No socket is inheritable. `socket()` makes inheritable handles, and
 * relay-listen spawns a process per connection (and the mux process): each
 * would hold the listening socket and every other client's connection,
 * keeping them open after we close them and able to read them. Sockets are
 * made with WSASocketW and WSA_FLAG_NO_HANDLE_INHERIT (Windows 7 SP1+),
 * overlapped as socket() makes them; accepted ones are also cleared with
 * SetHandleInformation, as libuv does for its own.
 *
 * Memory: each socket that reads or writes gets one LocalAlloc'ed block
 * (two OVERLAPPEDs, a 64 KiB buffer each way),
 * freed once the socket is closed and nothing of it is pending (closing
 * cancels what is; the cancelled operations still complete through the
 * port, with ERROR_OPERATION_ABORTED).
 */

const AF_UNIX = 1
const SOCK_STREAM = 1
const WSA_FLAG_OVERLAPPED = 0x01
const WSA_FLAG_NO_HANDLE_INHERIT = 0x80
/** How every socket of ours is made (exported so a test under Wine can check what was asked). */
export const SOCKET_FLAGS = WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT
const INVALID_SOCKET = -1
const SOCKET_ERROR = -1
const SD_SEND = 1
const FIONBIO = 0x8004667e
const SOL_SOCKET = 0xffff
const SO_ERROR = 0x1007
const WINSOCK_2_2 = 0x0202
/** Room for WSADATA, which is 408 bytes on 64-bit. */
const WSADATA_SIZE = 512
/** fd_set on 64-bit: u_int fd_count, padding, then SOCKET fd_array[FD_SETSIZE] from this offset. */
const FD_ARRAY = 8
const FD_SETSIZE = 64
const FD_SET_SIZE = FD_ARRAY + 8 * FD_SETSIZE
/** struct timeval { long tv_sec, tv_usec }; all zero: select does not wait. */
const TIMEVAL_SIZE = 8
/** sizeof(int): SO_ERROR's value. */
const INT_SIZE = 4

const BUFFER_SIZE = 64 * 1024
const OV_READ = 0
const OV_WRITE = OVERLAPPED_SIZE
const READ_BUFFER = 2 * OVERLAPPED_SIZE
const WRITE_BUFFER = READ_BUFFER + BUFFER_SIZE
const BLOCK_SIZE = WRITE_BUFFER + BUFFER_SIZE

const CONNECT_POLL_MS = 5
const CONNECT_TIMEOUT_MS = 10_000

let api: ReturnType<typeof bind> | undefined

async function bind() {
  const [ffi, k] = await Promise.all([koffi(), kernel32()])
  const ws2 = ffi.load('ws2_32.dll')
  const w = {
    ffi,
    WSAStartup: ws2.func('int __stdcall WSAStartup(uint16_t wVersionRequested, void *lpWSAData)'),
    WSASocketW: ws2.func('intptr_t __stdcall WSASocketW(int af, int type, int protocol, void *lpProtocolInfo, uint32_t g, uint32_t dwFlags)'),
    bind: ws2.func('int __stdcall bind(intptr_t s, const void *name, int namelen)'),
    listen: ws2.func('int __stdcall listen(intptr_t s, int backlog)'),
    accept: ws2.func('intptr_t __stdcall accept(intptr_t s, void *addr, void *addrlen)'),
    connect: ws2.func('int __stdcall connect(intptr_t s, const void *name, int namelen)'),
    ioctlsocket: ws2.func('int __stdcall ioctlsocket(intptr_t s, uint32_t cmd, _Inout_ uint32_t *argp)'),
    select: ws2.func('int __stdcall select(int nfds, void *readfds, void *writefds, void *exceptfds, const void *timeout)'),
    getsockopt: ws2.func('int __stdcall getsockopt(intptr_t s, int level, int optname, void *optval, _Inout_ int *optlen)'),
    shutdown: ws2.func('int __stdcall shutdown(intptr_t s, int how)'),
    closesocket: ws2.func('int __stdcall closesocket(intptr_t s)'),
    WSAGetLastError: ws2.func('int __stdcall WSAGetLastError()'),
    // kernel32's, for each socket's memory block.
    SetHandleInformation: k.SetHandleInformation,
    LocalAlloc: k.LocalAlloc,
    LocalFree: k.LocalFree,
    CopyIn: k.CopyIn,
    CopyOut: k.CopyOut,
  }
  const data = Buffer.alloc(WSADATA_SIZE)
  const status = w.WSAStartup(WINSOCK_2_2, data) as number
  if (status !== 0) throw new WinsockError('WSAStartup', status)
  return w
}

type Api = Awaited<ReturnType<typeof bind>>

/** The per-socket block for overlapped recv/send, and what is pending on it. */
interface Io {
  memory: unknown
  block: number
  pending: number
  closed: boolean
}

/** Winsock's sockets as af-unix.ts uses them; `family` other than AF_UNIX is for tests of the bindings. */
class Winsock implements SocketApi {
  readonly #w: Api
  readonly #port: CompletionPort
  readonly #family: number
  readonly #io = new Map<SocketHandle, Io>()
  readonly #listening = new Set<SocketHandle>()

  constructor(w: Api, port: CompletionPort, family: number) {
    this.#w = w
    this.#port = port
    this.#family = family
    // A thread blocked in accept() would keep the process from exiting.
    process.once('exit', () => {
      for (const s of this.#listening) w.closesocket(s)
    })
  }

  #fail(syscall: string): never {
    throw new WinsockError(syscall, this.#w.WSAGetLastError() as number)
  }

  socket(): SocketHandle {
    const s = this.#w.WSASocketW(this.#family, SOCK_STREAM, 0, null, 0, SOCKET_FLAGS) as number
    if (s === INVALID_SOCKET) this.#fail('socket')
    return s
  }

  bind(s: SocketHandle, address: Buffer): void {
    if (this.#w.bind(s, address, address.length) === SOCKET_ERROR) this.#fail('bind')
  }

  listen(s: SocketHandle, backlog: number): void {
    if (this.#w.listen(s, backlog) === SOCKET_ERROR) this.#fail('listen')
    this.#listening.add(s)
  }

  accept(s: SocketHandle): Promise<SocketHandle> {
    return new Promise((resolve, reject) => {
      this.#w.accept.async(s, null, null, (err: unknown, client: number) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)))
        if (client === INVALID_SOCKET) {
          // Closed by close(): say so whatever the (shared, see above) last error holds by now.
          const error = this.#listening.has(s) ? (this.#w.WSAGetLastError() as number) : WSA.EINTR
          return reject(new WinsockError('accept', error))
        }
        // A connection that children could inherit is not served: closed, and the accept fails.
        if (!this.#w.SetHandleInformation(client, HANDLE_FLAG_INHERIT, 0)) {
          const error = this.#w.WSAGetLastError() as number
          this.#w.closesocket(client)
          return reject(new WinsockError('SetHandleInformation', error))
        }
        resolve(client)
      })
    })
  }

  async connect(s: SocketHandle, address: Buffer): Promise<void> {
    const w = this.#w
    this.#setNonBlocking(s, true)
    if (w.connect(s, address, address.length) === SOCKET_ERROR) {
      const error = w.WSAGetLastError() as number
      if (error !== WSA.EWOULDBLOCK) throw new WinsockError('connect', error)
      const deadline = Date.now() + CONNECT_TIMEOUT_MS
      for (;;) {
        const state = this.#connectState(s)
        if (state === 'connected') break
        if (state !== 'pending') throw new WinsockError('connect', state)
        if (Date.now() > deadline) throw new WinsockError('connect', WSA.ETIMEDOUT)
        await new Promise((r) => setTimeout(r, CONNECT_POLL_MS))
      }
    }
    // Only a connected socket is used further (a failed one is closed), so only it is switched back.
    this.#setNonBlocking(s, false)
  }

  #setNonBlocking(s: SocketHandle, on: boolean): void {
    if (this.#w.ioctlsocket(s, FIONBIO, [on ? 1 : 0]) === SOCKET_ERROR) this.#fail('ioctlsocket(FIONBIO)')
  }

  /** A non-blocking connect's progress: select says writable (done) or exceptional (failed: SO_ERROR says why). */
  #connectState(s: SocketHandle): 'connected' | 'pending' | number {
    const w = this.#w
    const fdSet = () => {
      const set = Buffer.alloc(FD_SET_SIZE)
      set.writeUInt32LE(1, 0)
      set.writeBigInt64LE(BigInt(s), FD_ARRAY)
      return set
    }
    const writable = fdSet()
    const failed = fdSet()
    const noWait = Buffer.alloc(TIMEVAL_SIZE)
    if (w.select(0, null, writable, failed, noWait) === SOCKET_ERROR) this.#fail('select')
    if (failed.readUInt32LE(0) > 0) {
      const error = Buffer.alloc(INT_SIZE)
      if (w.getsockopt(s, SOL_SOCKET, SO_ERROR, error, [INT_SIZE]) === SOCKET_ERROR) this.#fail('getsockopt(SO_ERROR)')
      return error.readInt32LE(0) || WSA.ECONNREFUSED
    }
    return writable.readUInt32LE(0) > 0 ? 'connected' : 'pending'
  }

  #ioOf(s: SocketHandle): Io {
    let io = this.#io.get(s)
    if (!io) {
      const memory: unknown = this.#w.LocalAlloc(LPTR, BLOCK_SIZE)
      if (!memory) throw new Error('LocalAlloc failed')
      this.#port.associate(s)
      this.#port.ref()
      io = { memory, block: Number(this.#w.ffi.address(memory)), pending: 0, closed: false }
      this.#io.set(s, io)
    }
    if (io.closed) throw new WinsockError('use', WSA.ENOTSOCK)
    return io
  }

  /** An overlapped read or write of `length` bytes at `buffer` in `s`'s block; resolves to the bytes moved. */
  #transfer(s: SocketHandle, io: Io, kind: 'recv' | 'send', buffer: number, length: number): Promise<number> {
    return new Promise((resolve, reject) => {
      io.pending++
      const done = (error: number, bytes: number) => {
        io.pending--
        if (io.closed && io.pending === 0) this.#free(io)
        if (error) reject(new WinsockError(kind, error))
        else resolve(bytes)
      }
      if (kind === 'recv') this.#port.read(s, io.block + OV_READ, buffer, length, done)
      else this.#port.write(s, io.block + OV_WRITE, buffer, length, done)
    })
  }

  async recv(s: SocketHandle, max: number): Promise<Buffer> {
    const io = this.#ioOf(s)
    const bytes = await this.#transfer(s, io, 'recv', io.block + READ_BUFFER, Math.min(max, BUFFER_SIZE))
    const chunk = Buffer.allocUnsafe(bytes)
    if (bytes > 0) this.#w.CopyOut(chunk, io.block + READ_BUFFER, bytes)
    return chunk
  }

  send(s: SocketHandle, data: Buffer): Promise<number> {
    const io = this.#ioOf(s)
    const length = Math.min(data.length, BUFFER_SIZE)
    this.#w.CopyIn(io.block + WRITE_BUFFER, data, length)
    return this.#transfer(s, io, 'send', io.block + WRITE_BUFFER, length)
  }

  shutdownSend(s: SocketHandle): void {
    if (this.#w.shutdown(s, SD_SEND) === SOCKET_ERROR) this.#fail('shutdown')
  }

  close(s: SocketHandle): void {
    this.#listening.delete(s)
    const io = this.#io.get(s)
    if (io) {
      this.#io.delete(s)
      io.closed = true
    }
    const error = this.#w.closesocket(s) === SOCKET_ERROR ? (this.#w.WSAGetLastError() as number) : 0
    if (io && io.pending === 0) this.#free(io)
    if (error) throw new WinsockError('closesocket', error)
  }

  #free(io: Io): void {
    this.#w.LocalFree(io.memory)
    this.#port.unref()
  }
}

const apis = new Map<number, Promise<SocketApi>>()

/**
 * Winsock, started (WSAStartup 2.2) on first use. `family` is AF_UNIX unless
 * a test of the bindings asks for AF_INET (2), which Wine has.
 */
export function winsock(family = AF_UNIX): Promise<SocketApi> {
  let made = apis.get(family)
  if (!made) {
    api ??= bind()
    made = Promise.all([api, completionPort()]).then(([w, port]) => new Winsock(w, port, family))
    apis.set(family, made)
  }
  return made
}
