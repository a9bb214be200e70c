import { Duplex } from 'node:stream'
import { type Completion, type CompletionPort, completionPort, OVERLAPPED_SIZE } from './completion-port.js'
import { nodeErrorCode, PIPE_GONE, WIN32 } from './errors.js'
import { INVALID_HANDLE_VALUE, type Kernel32, kernel32, lastError, LPTR, pipeLocalInformation } from './kernel32.js'
import { userOnlySecurityAttributes } from './security.js'

/**
 * kernel32 named-pipe server: a listener on `\\.\pipe\<name>` that hands
 * each client connection over as a Node Duplex.
 *
 * Node's own `net.Server.listen('\\\\.\\pipe\\x')` creates its instances
 * with the default DACL and accepts clients from other machines (SMB). This
 * one does what Pageant does for its pipe: the DACL grants GENERIC_ALL to
 * the current user only (see security.ts), PIPE_REJECT_REMOTE_CLIENTS,
 * and the first instance uses FILE_FLAG_FIRST_PIPE_INSTANCE so a name that
 * someone else already serves is an error, not a silent second server.
 *
 * Byte mode, one pipe instance per client. Free instances (waiting in
 * ConnectNamedPipe) are replaced as soon as one is taken, so a burst of
 * clients waits in WaitNamedPipe only for as long as creating an instance
 * takes. Every handle is overlapped and runs through the process's
 * completion port (completion-port.ts): a read and a write can be pending at
 * once on a connection (full duplex), and no thread waits per operation.
 *
 * Quirks and choices:
 * - Named pipes have no half-close. A client's EOF (ERROR_BROKEN_PIPE,
 *   ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED on read) ends our readable side;
 *   as allowHalfOpen is false, that also ends our writable side and closes
 *   the connection. Our `end()` closes the connection: once every write has
 *   completed (the bytes sit in the pipe's buffer), the pending read is
 *   cancelled, the readable side ends (whatever the client sends after that
 *   is lost), and the handle is closed WITHOUT DisconnectNamedPipe, which
 *   would throw away what the client has not read yet; after CloseHandle the
 *   client still reads everything, then gets EOF. No FlushFileBuffers: it
 *   blocks a thread until the client has read everything, for ever if it
 *   never reads. `destroy()` is the abortive close: DisconnectNamedPipe
 *   (unread data is discarded), cancel, close.
 * - Writing to a client that has gone fails with an `EPIPE` error, as on a
 *   socket.
 * - Under Wine (8.0 and current) CreateNamedPipeW ignores both
 *   FILE_FLAG_FIRST_PIPE_INSTANCE and PIPE_REJECT_REMOTE_CLIENTS: our first
 *   instance would silently join a pipe someone else serves. Current Wine
 *   then sets ERROR_ALREADY_EXISTS, 8.0 does not; so we also ask how many
 *   instances the pipe has (FilePipeLocalInformation) and give up if ours is
 *   not the only one. The same gap lets a server started after ours join
 *   our name under Wine (not on Windows). Wine has no remote clients at all.
 * - The listener, and every open connection (even one paused by
 *   backpressure), keeps the event loop alive, like sockets do.
 * - The name stays taken while any instance is open, connections included:
 *   after `close()` a new listener can take the name only once the last
 *   connection has closed; until then new clients get ERROR_PIPE_BUSY (Node
 *   clients wait 30 s in WaitNamedPipe, then ETIMEDOUT).
 */

/**
 * nDefaultTimeOut: how long a client's WaitNamedPipe(NMPWAIT_USE_DEFAULT_WAIT)
 * waits for a free instance (0 means 50 ms). PuTTY's clients wait so, and
 * give up on the pipe after it: 32 plink logins at once under Wine found no
 * free instance within 50 ms for 12 of 64 requests.
 */
const CLIENT_WAIT_MS = 5000
const PIPE_ACCESS_DUPLEX = 0x00000003
const FILE_FLAG_OVERLAPPED = 0x40000000
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
const PIPE_TYPE_BYTE = 0x00000000
const PIPE_READMODE_BYTE = 0x00000000
const PIPE_WAIT = 0x00000000
const PIPE_REJECT_REMOTE_CLIENTS = 0x00000008
const PIPE_UNLIMITED_INSTANCES = 255

/** The open mode every instance but the first is created with. */
export const PIPE_OPEN_MODE = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED
/** The open mode of the first instance, which claims the name. */
export const FIRST_PIPE_OPEN_MODE = PIPE_OPEN_MODE | FILE_FLAG_FIRST_PIPE_INSTANCE
/** The pipe mode every instance is created with. */
export const PIPE_MODE = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS

/** FSCTL_PIPE_LISTEN: what ConnectNamedPipe asks of the pipe driver. */
const FSCTL_PIPE_LISTEN = 0x00110008

/** Each instance's buffers (one read, one write) and its pipe quotas. */
const BUFFER_SIZE = 64 * 1024

// One LocalAlloc'ed block per instance: three OVERLAPPEDs, then the buffers.
const OV_CONNECT = 0
const OV_READ = OVERLAPPED_SIZE
const OV_WRITE = 2 * OVERLAPPED_SIZE
const READ_BUFFER = 3 * OVERLAPPED_SIZE
const WRITE_BUFFER = READ_BUFFER + BUFFER_SIZE
const BLOCK_SIZE = WRITE_BUFFER + BUFFER_SIZE

/** An error from a pipe operation: `code` as Node would name it, `winError` as Windows did. */
export interface PipeError extends Error {
  code: string
  winError: number
  syscall: string
}

function pipeError(syscall: string, winError: number, message?: string): PipeError {
  const code = nodeErrorCode(winError)
  const e = new Error(message ?? `${syscall} failed (Windows error ${winError})`) as PipeError
  e.code = code
  e.winError = winError
  e.syscall = syscall
  return e
}

/**
 * `\\.\pipe\name` from `\\.\pipe\name` or `//./pipe/name` (the form that
 * survives shells and socat). Throws a TypeError for anything else.
 */
export function normalizePipeName(name: string): string {
  const full = name.replaceAll('/', '\\')
  if (!/^\\\\\.\\pipe\\[^\\]/i.test(full)) {
    throw new TypeError(`not a local named pipe name: ${name} (expected \\\\.\\pipe\\NAME or //./pipe/NAME)`)
  }
  return full
}

/**
 * One pipe instance: its handle and the memory its operations use. The
 * memory is freed and the handle closed only once nothing is pending.
 */
class Instance {
  readonly #w: Kernel32
  readonly #port: CompletionPort
  readonly handle: number
  /** The LocalAlloc'ed block (koffi pointer) and its address, for pointer arithmetic. */
  readonly #memory: unknown
  readonly #block: number
  #pending = 0
  #closing: Promise<void> | undefined
  #idle: (() => void) | undefined

  constructor(w: Kernel32, port: CompletionPort, handle: number, memory: unknown) {
    this.#w = w
    this.#port = port
    this.handle = handle
    this.#memory = memory
    this.#block = Number(w.ffi.address(memory))
    port.ref()
  }

  get closing(): boolean {
    return this.#closing !== undefined
  }

  /** `done` for an operation being started: it counts as pending until `done` has run. */
  #begin(done: Completion): Completion {
    this.#pending++
    return (error, bytes) => {
      this.#pending--
      try {
        done(error, bytes)
      } finally {
        if (this.#pending === 0) this.#idle?.()
      }
    }
  }

  /** ConnectNamedPipe; ERROR_PIPE_CONNECTED (a client came before we asked) is a success too. */
  connect(done: (error: number) => void): void {
    const call = (ov: number) => this.#w.NtFsControlFile(this.handle, 0, 0, ov, ov, FSCTL_PIPE_LISTEN, 0, 0, 0, 0) as number
    this.#port.start(this.handle, this.#block + OV_CONNECT, call, this.#begin((error) => done(error)))
  }

  read(done: (error: number, chunk: Buffer | undefined) => void): void {
    const w = this.#w
    const buffer = this.#block + READ_BUFFER
    this.#port.read(this.handle, this.#block + OV_READ, buffer, BUFFER_SIZE, this.#begin((error, bytes) => {
      if (error || bytes === 0) return done(error, undefined)
      const chunk = Buffer.allocUnsafe(bytes)
      w.CopyOut(chunk, buffer, bytes)
      done(0, chunk)
    }))
  }

  /** Write up to BUFFER_SIZE bytes of `bytes` (copied first); `done` gets how many went. */
  write(bytes: Buffer, done: (error: number, written: number) => void): void {
    const length = Math.min(bytes.length, BUFFER_SIZE)
    this.#w.CopyIn(this.#block + WRITE_BUFFER, bytes, length)
    this.#port.write(this.handle, this.#block + OV_WRITE, this.#block + WRITE_BUFFER, length, this.#begin(done))
  }

  cancel(): void {
    if (this.#pending > 0 && !this.#closing) this.#w.CancelIoEx(this.handle, 0)
  }

  /**
   * Cancel what is pending, wait for it, close the handle, free the memory.
   * `abort` disconnects first, discarding data the client has not read.
   */
  close(abort: boolean): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const w = this.#w
      if (abort) w.DisconnectNamedPipe(this.handle)
      const finish = () => {
        w.CloseHandle(this.handle)
        w.LocalFree(this.#memory)
        this.#port.unref()
        resolve()
      }
      if (this.#pending === 0) return finish()
      this.#idle = finish
      w.CancelIoEx(this.handle, 0)
    })
    return this.#closing
  }
}

/**
 * One client connection. Reads are issued while the readable side wants
 * data (backpressure: no ReadFile while the buffer is above the high-water
 * mark); writes go out one at a time in pieces of at most 64 KiB.
 */
class PipeConnection extends Duplex {
  readonly #inst: Instance
  #reading = false

  constructor(inst: Instance) {
    super({ allowHalfOpen: false })
    this.#inst = inst
    // Read at once, like a socket, so a client's EOF is seen even before anyone reads.
    this.#startRead()
  }

  override _read(): void {
    this.#startRead()
  }

  #startRead(): void {
    if (this.#reading || this.#inst.closing || this.destroyed) return
    this.#reading = true
    this.#inst.read((error, chunk) => {
      this.#reading = false
      if (this.destroyed) return
      if (error === 0) {
        // A zero-byte read (a client's empty write) is not EOF.
        if (chunk && !this.push(chunk)) return
        this.#startRead()
        return
      }
      if (this.#inst.closing) return // our own cancel
      if (PIPE_GONE.has(error)) this.push(null)
      else this.destroy(pipeError('ReadFile', error))
    })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunk, callback)
  }

  #writeAll(bytes: Buffer, callback: (error?: Error | null) => void): void {
    if (bytes.length === 0) return callback() // nothing to send; an empty WriteFile would wake the client with 0 bytes
    if (this.#inst.closing) return callback(pipeError('WriteFile', WIN32.OPERATION_ABORTED, 'pipe connection closed'))
    this.#inst.write(bytes, (error, written) => {
      if (error) {
        return callback(
          PIPE_GONE.has(error) ? pipeError('WriteFile', error, 'the pipe client has disconnected') : pipeError('WriteFile', error),
        )
      }
      if (written === 0) return callback(pipeError('WriteFile', WIN32.NO_DATA, 'WriteFile wrote nothing'))
      this.#writeAll(bytes.subarray(written), callback)
    })
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Every write has completed: close (keeping buffered data for the client) and end the readable side.
    this.#inst.close(false).then(() => {
      this.push(null)
      callback()
    }, callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inst.close(true).then(
      () => callback(error),
      (e: unknown) => callback(error ?? (e as Error)),
    )
  }
}

/** Options for {@link listenNamedPipe}. */
export interface ListenOptions {
  /**
   * Instances kept waiting for clients (default 4). One is enough for
   * correctness; a few more let a burst of clients connect without waiting
   * for the next instance to be created.
   */
  freeInstances?: number
  /**
   * Called if the listener fails after it started (e.g. no new instance can
   * be created); it has then stopped accepting. Without it the error is
   * thrown from a microtask (an uncaught exception), like an unhandled
   * 'error' event on a net.Server.
   */
  onError?: (error: Error) => void
}

/** A listening named-pipe server. */
export interface PipeServer {
  /** The pipe's full name, `\\.\pipe\...`. */
  readonly name: string
  /** Whether it still accepts clients. */
  readonly listening: boolean
  /** Connections handed out and not yet closed. */
  readonly connections: number
  /**
   * Stop accepting: the free instances are closed at once. Resolves when
   * every connection has closed too (like net.Server.close), at once with
   * `destroyConnections`, which destroys them. Safe to call twice.
   */
  close(options?: { destroyConnections?: boolean }): Promise<void>
}

class Listener implements PipeServer {
  readonly name: string
  readonly #w: Kernel32
  readonly #port: CompletionPort
  readonly #attributes: unknown
  readonly #onConnection: (conn: Duplex) => void
  readonly #freeTarget: number
  readonly #onError: ((error: Error) => void) | undefined
  readonly #free = new Set<Instance>()
  readonly #connections = new Set<PipeConnection>()
  #listening = true
  #closed: Promise<void> | undefined
  #resolveClosed: (() => void) | undefined

  constructor(w: Kernel32, port: CompletionPort, name: string, attributes: unknown, onConnection: (conn: Duplex) => void, options: ListenOptions) {
    this.#w = w
    this.#port = port
    this.name = name
    this.#attributes = attributes
    this.#onConnection = onConnection
    this.#freeTarget = Math.max(1, Math.floor(options.freeInstances ?? 4))
    this.#onError = options.onError
  }

  get listening(): boolean {
    return this.#listening
  }

  get connections(): number {
    return this.#connections.size
  }

  /** Create the first instance (claiming the name) and the other free ones. */
  start(): void {
    this.#accept(this.#create(true))
    this.#replenish()
  }

  #create(first: boolean): Instance {
    const w = this.#w
    // Windows leaves the last error alone on success; Wine sets it (ERROR_ALREADY_EXISTS).
    w.SetLastError(0)
    const openMode = first ? FIRST_PIPE_OPEN_MODE : PIPE_OPEN_MODE
    const handle = w.CreateNamedPipeW(this.name, openMode, PIPE_MODE, PIPE_UNLIMITED_INSTANCES, BUFFER_SIZE, BUFFER_SIZE, CLIENT_WAIT_MS, this.#attributes) as number
    const error = w.GetLastError() as number
    if (handle === INVALID_HANDLE_VALUE) throw this.#createError(first, error)
    // Wine ignores FILE_FLAG_FIRST_PIPE_INSTANCE: an existing pipe just got
    // one more instance, ours. Newer Wine says so with ERROR_ALREADY_EXISTS;
    // Wine 8.0 does not, but counts the instances.
    if (first && (error === WIN32.ALREADY_EXISTS || pipeLocalInformation(w, handle).currentInstances > 1)) {
      w.CloseHandle(handle)
      throw this.#createError(first, WIN32.ALREADY_EXISTS)
    }
    let memory: unknown
    try {
      this.#port.associate(handle, { skipOnSuccess: true })
      memory = w.LocalAlloc(LPTR, BLOCK_SIZE)
      if (!memory) throw lastError(w, 'LocalAlloc')
    } catch (e) {
      w.CloseHandle(handle)
      throw e
    }
    return new Instance(w, this.#port, handle, memory)
  }

  #createError(first: boolean, error: number): PipeError {
    if (first && (error === WIN32.ACCESS_DENIED || error === WIN32.PIPE_BUSY || error === WIN32.ALREADY_EXISTS)) {
      const e = pipeError('CreateNamedPipe', error, `${this.name} is already in use: another listener owns it (Windows error ${error})`)
      e.code = 'EADDRINUSE'
      return e
    }
    if (([WIN32.PATH_NOT_FOUND, WIN32.INVALID_NAME, WIN32.BAD_PATHNAME, WIN32.FILENAME_EXCED_RANGE] as number[]).includes(error)) {
      const e = pipeError('CreateNamedPipe', error, `${this.name} is not a valid pipe name (Windows error ${error})`)
      e.code = 'EINVAL'
      return e
    }
    return pipeError('CreateNamedPipe', error, `cannot create ${this.name} (Windows error ${error})`)
  }

  #accept(inst: Instance): void {
    this.#free.add(inst)
    inst.connect((error) => {
      this.#free.delete(inst)
      if (!this.#listening) {
        // Cancelled by close(), or a client that came in just then: drop it.
        void inst.close(true).then(() => this.#checkClosed())
        return
      }
      if (error !== 0 && error !== WIN32.PIPE_CONNECTED) {
        // The client went away before we accepted it (ERROR_NO_DATA): recycle.
        void inst.close(true)
        this.#replenish()
        return
      }
      this.#replenish()
      const conn = new PipeConnection(inst)
      this.#connections.add(conn)
      conn.once('close', () => {
        this.#connections.delete(conn)
        this.#checkClosed()
      })
      this.#onConnection(conn)
    })
  }

  #replenish(): void {
    try {
      while (this.#listening && this.#free.size < this.#freeTarget) this.#accept(this.#create(false))
    } catch (e) {
      this.#fail(e as Error)
    }
  }

  #fail(error: Error): void {
    void this.close()
    if (this.#onError) this.#onError(error)
    else
      queueMicrotask(() => {
        throw error
      })
  }

  #checkClosed(): void {
    if (!this.#listening && this.#free.size === 0 && this.#connections.size === 0) this.#resolveClosed?.()
  }

  close(options: { destroyConnections?: boolean } = {}): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#resolveClosed = resolve
    })
    this.#listening = false
    for (const inst of this.#free) inst.cancel()
    if (options.destroyConnections) for (const conn of this.#connections) conn.destroy()
    this.#checkClosed()
    return this.#closed
  }

  /** A handle of one of the free instances, if any. */
  someHandle(): number | undefined {
    for (const inst of this.#free) if (!inst.closing) return inst.handle
    return undefined
  }
}

/**
 * Listen on the named pipe `name` (`\\.\pipe\NAME` or `//./pipe/NAME`) and
 * call `onConnection` with a Duplex for each client. Rejects with code
 * `EADDRINUSE` if the name is already served (by anyone, this process
 * included) and `EINVAL` for a malformed name.
 */
export async function listenNamedPipe(name: string, onConnection: (conn: Duplex) => void, options: ListenOptions = {}): Promise<PipeServer> {
  const full = normalizePipeName(name)
  const w = await kernel32()
  const [port, attributes] = await Promise.all([completionPort(), userOnlySecurityAttributes()])
  const listener = new Listener(w, port, full, attributes, onConnection, options)
  listener.start()
  return listener
}

/**
 * The handle of one of `server`'s free instances, to read back what the
 * system stored for the pipe (its security descriptor, GetNamedPipeInfo);
 * undefined once it has stopped listening.
 */
export function freeInstanceHandle(server: PipeServer): number | undefined {
  if (!(server instanceof Listener)) throw new TypeError('not a server from listenNamedPipe')
  return server.someHandle()
}
