import { WIN32 } from './errors.js'
import { INVALID_HANDLE_VALUE, type Kernel32, kernel32, LPTR, lastError } from './kernel32.js'

/**
 * kernel32 I/O completion ports: how overlapped Win32 I/O reaches the event
 * loop without a thread per operation.
 *
 * Waiting for overlapped operations one by one (GetOverlappedResult with
 * bWait=TRUE through koffi's `.async`) costs a worker thread for as long as
 * each operation is pending, and a pipe server always has some pending: a
 * ConnectNamedPipe per free instance and a ReadFile per idle connection.
 * koffi runs `.async` calls on libuv's thread pool (4 threads by default,
 * shared with fs, dns and crypto: eight blocking koffi calls delay an
 * fs.readFile until four have returned), so a handful of idle clients would
 * starve everything else. Instead every handle is associated with one
 * completion port per process, and a single `.async`
 * GetQueuedCompletionStatusEx call waits for all of them: one pool thread in
 * total, and only while an operation is in flight or an open handle holds
 * the port (see {@link CompletionPort.ref}); that wait is also what keeps
 * the event loop alive.
 *
 * Rules the callers must keep:
 * - The OVERLAPPED and the buffers of an operation stay allocated until its
 *   completion has been delivered, even after CancelIoEx; so handles are
 *   closed only when nothing of theirs is pending.
 * - An operation is started with an ntdll call that returns its NTSTATUS
 *   ({@link CompletionPort.read} and {@link CompletionPort.write} make
 *   NtReadFile and NtWriteFile calls; the OVERLAPPED is their ApcContext,
 *   IoStatusBlock and ByteOffset, which a socket requires and a pipe
 *   ignores), not with ReadFile and GetLastError. koffi keeps one last
 *   error per Node thread and copies it back from the pool thread when an
 *   `.async` call ends, so the wait below, ending between ReadFile and
 *   GetLastError, replaced ERROR_IO_PENDING with a stale 0: the read was
 *   taken for an empty one and read again, and the first read's bytes,
 *   arriving later, were lost (16 clients echoing 1 MiB under load, about
 *   1 run in 50). Completions are read from the OVERLAPPED itself (Internal
 *   is the NTSTATUS, InternalHigh the byte count), not with
 *   GetOverlappedResult.
 * - STATUS_PENDING: a packet will come. An error status (NT_ERROR): the
 *   operation failed at once and queues no packet, so
 *   {@link CompletionPort.start} reports it itself. Any other status
 *   (success, or a warning such as STATUS_BUFFER_OVERFLOW from a
 *   message-mode read): a packet comes unless the handle was associated
 *   with `skipOnSuccess` (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS); then
 *   `start` reports it itself. That saves the round trip through the
 *   waiting pool thread and back to the event loop for every write that
 *   fits the pipe's buffer and every read whose data is already there
 *   (under Wine a quarter of a request's cost through a pipe server).
 * - Node joins the pool's threads when it exits, and a thread blocked in
 *   GetQueuedCompletionStatusEx would never come back (under Wine,
 *   `process.exit()` then hung for good): an 'exit' hook posts a wake-up
 *   packet.
 *
 * OVERLAPPEDs and buffers go to Win32 as plain addresses (declared
 * uintptr_t; koffi.address() of LocalAlloc'ed memory), which makes
 * "OVERLAPPED + offset" arithmetic and map keys trivial; koffi's
 * decode/encode want the pointer object itself. 64-bit Windows only (x64,
 * arm64), which is all Node supports there.
 */

const INFINITE = 0xffffffff
const FILE_SKIP_COMPLETION_PORT_ON_SUCCESS = 0x1
/** Completion key of our own wake-up packets; handles are associated with key 0. */
const WAKE_KEY = 1
/** Completions taken per wait. */
const BATCH = 64
/** sizeof(OVERLAPPED_ENTRY) on 64-bit: lpCompletionKey, lpOverlapped, Internal (8 each), dwNumberOfBytesTransferred (4), padding. */
const ENTRY_SIZE = 32
const ENTRY_OVERLAPPED = 8
/** The ULONG GetQueuedCompletionStatusEx writes the number of entries it filled into. */
const COUNT_SIZE = 4

/** OVERLAPPED's Internal and InternalHigh, which are an IO_STATUS_BLOCK: the NTSTATUS and the byte count. */
const IO_STATUS_SIZE = 16

/** sizeof(OVERLAPPED) on 64-bit Windows. */
export const OVERLAPPED_SIZE = 32

/** How an operation ended: `error` is 0 or a Win32 error code (what GetOverlappedResult would say). */
export type Completion = (error: number, bytes: number) => void

/** NTSTATUS of an operation under way. */
const STATUS_PENDING = 0x103
/** NTSTATUS from 0xC0000000 up are errors (NT_ERROR); from 0x80000000 up, warnings too. */
const NT_ERROR_FROM = 0xc0000000
const NT_WARNING_FROM = 0x80000000
/** GetOverlappedResult's error for an operation still under way. */
const ERROR_IO_INCOMPLETE = 996
/** OVERLAPPED's Offset and OffsetHigh: the ByteOffset of a read or write (zero). */
const OVERLAPPED_OFFSET = 16

interface Pending {
  handle: number
  done: Completion
}

/** The process's completion port: associate overlapped handles, then start operations on them. */
export class CompletionPort {
  readonly #w: Kernel32
  readonly #port: number
  /** OVERLAPPED_ENTRY[BATCH] and the count, written by the waiting thread: LocalAlloc'ed, never freed. */
  readonly #entries: unknown
  readonly #removed: unknown
  readonly #pending = new Map<number, Pending>()
  /** Handles associated with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS in effect. */
  readonly #skipOnSuccess = new Set<number>()
  /** Where {@link #result} copies an OVERLAPPED's Internal and InternalHigh. */
  readonly #status = Buffer.alloc(IO_STATUS_SIZE)
  #holds = 0
  #waiting = false
  #woken = false

  constructor(w: Kernel32, port: number, entries: unknown, removed: unknown) {
    this.#w = w
    this.#port = port
    this.#entries = entries
    this.#removed = removed
    process.once('exit', () => this.#wake())
  }

  /**
   * Route the completions of `handle` (opened with FILE_FLAG_OVERLAPPED)
   * here; throws the Win32 error. With `skipOnSuccess`, operations that
   * succeed at once queue no packet (if the system agrees to it; otherwise
   * they go through the port as before).
   */
  associate(handle: number, options: { skipOnSuccess?: boolean } = {}): void {
    // A handle value can be reused once closed: forget what an earlier handle asked for.
    this.#skipOnSuccess.delete(handle)
    if (this.#w.CreateIoCompletionPort(handle, this.#port, 0, 0) === 0) {
      throw lastError(this.#w, 'CreateIoCompletionPort')
    }
    if (options.skipOnSuccess && this.#w.SetFileCompletionNotificationModes(handle, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS)) {
      this.#skipOnSuccess.add(handle)
    }
  }

  /**
   * Start an overlapped operation: zero the OVERLAPPED at `overlapped`, run
   * `call(overlapped)` (an ntdll call on `handle` returning its NTSTATUS,
   * e.g. NtReadFile), and call `done` on the event loop once it has
   * completed, also when it failed at once. Never calls `done` synchronously.
   */
  start(handle: number, overlapped: number, call: (overlapped: number) => number, done: Completion): void {
    if (this.#pending.has(overlapped)) throw new Error('relaykit: OVERLAPPED already in use')
    this.#w.RtlZeroMemory(overlapped, OVERLAPPED_SIZE)
    this.#pending.set(overlapped, { handle, done })
    const status = call(overlapped) >>> 0
    if (status === STATUS_PENDING || (status < NT_ERROR_FROM && !this.#skipOnSuccess.has(handle))) return this.#wait()
    // Failed at once, or done at once with no packet to come: report it from here.
    this.#pending.delete(overlapped)
    if (status >= NT_ERROR_FROM) process.nextTick(done, this.#w.RtlNtStatusToDosError(status) as number, 0)
    else process.nextTick(done, ...this.#result(overlapped))
    if (this.#pending.size === 0 && this.#holds === 0) this.#wake()
  }

  /** The outcome of a completed operation, read from its OVERLAPPED: [Win32 error or 0, bytes]. */
  #result(overlapped: number): [number, number] {
    this.#w.CopyOut(this.#status, overlapped, IO_STATUS_SIZE)
    const status = this.#status.readUInt32LE(0)
    const bytes = this.#status.readUInt32LE(8)
    if (status === STATUS_PENDING) return [ERROR_IO_INCOMPLETE, 0]
    return [status >= NT_WARNING_FROM ? (this.#w.RtlNtStatusToDosError(status) as number) : 0, bytes]
  }

  /** {@link start} a read of up to `length` bytes into `buffer` (an address). */
  read(handle: number, overlapped: number, buffer: number, length: number, done: Completion): void {
    this.start(handle, overlapped, (ov) => this.#w.NtReadFile(handle, 0, 0, ov, ov, buffer, length, ov + OVERLAPPED_OFFSET, 0) as number, done)
  }

  /** {@link start} a write of `length` bytes from `buffer` (an address). */
  write(handle: number, overlapped: number, buffer: number, length: number, done: Completion): void {
    this.start(handle, overlapped, (ov) => this.#w.NtWriteFile(handle, 0, 0, ov, ov, buffer, length, ov + OVERLAPPED_OFFSET, 0) as number, done)
  }

  /**
   * Keep waiting (and so the event loop alive) even while nothing is
   * pending, like a ref'd socket: an open handle whose reads are paused for
   * backpressure must not let the process exit. Pair with {@link unref}.
   */
  ref(): void {
    this.#holds++
    this.#wait()
  }

  /** Undo one {@link ref}; the waiter stops once nothing holds it and nothing is pending. */
  unref(): void {
    this.#holds--
    if (this.#holds === 0 && this.#pending.size === 0) this.#wake()
  }

  /** Operations started and not yet delivered. */
  get pending(): number {
    return this.#pending.size
  }

  #wait(): void {
    if (this.#waiting || (this.#pending.size === 0 && this.#holds === 0)) return
    this.#waiting = true
    this.#woken = false
    const w = this.#w
    const entries = Number(w.ffi.address(this.#entries))
    const removed = Number(w.ffi.address(this.#removed))
    w.GetQueuedCompletionStatusEx.async(this.#port, entries, BATCH, removed, INFINITE, 0, (err: unknown, ok: number) => {
      this.#waiting = false
      if (err || !ok) {
        // Only possible if the port itself broke: nothing will complete any more.
        const all = [...this.#pending.values()]
        this.#pending.clear()
        for (const p of all) deliver(p.done, WIN32.GEN_FAILURE, 0)
        return
      }
      // Take the whole batch out of the entries first: a callback that starts
      // an operation also starts the next wait, which reuses them.
      const completed: [Completion, number, number][] = []
      const count = w.ffi.decode(this.#removed, 'uint32_t') as number
      for (let i = 0; i < count; i++) {
        const overlapped = Number(w.ffi.decode(this.#entries, i * ENTRY_SIZE + ENTRY_OVERLAPPED, 'uintptr_t') as number | bigint)
        const p = this.#pending.get(overlapped)
        if (!p) continue // a wake-up packet (WAKE_KEY, no OVERLAPPED)
        this.#pending.delete(overlapped)
        completed.push([p.done, ...this.#result(overlapped)])
      }
      for (const [done, error, bytes] of completed) deliver(done, error, bytes)
      this.#wait()
    })
  }

  /** Let a blocked waiter return (it goes back to waiting if anything is still pending). */
  #wake(): void {
    if (!this.#waiting || this.#woken) return
    this.#woken = true
    this.#w.PostQueuedCompletionStatus(this.#port, 0, WAKE_KEY, 0)
  }
}

/**
 * Call `done`; if it throws, rethrow from a microtask (an uncaught exception,
 * as from any callback) so the rest of the batch is still delivered and the
 * wait goes on.
 */
function deliver(done: Completion, error: number, bytes: number): void {
  try {
    done(error, bytes)
  } catch (e) {
    queueMicrotask(() => {
      throw e
    })
  }
}

let shared: Promise<CompletionPort> | undefined

/** The process-wide completion port, created on first use and kept for the life of the process. */
export function completionPort(): Promise<CompletionPort> {
  shared ??= create()
  return shared
}

async function create(): Promise<CompletionPort> {
  const w = await kernel32()
  if (w.ffi.sizeof('void *') !== 8) throw new Error('relaykit: overlapped I/O needs 64-bit Windows')
  const port = w.CreateIoCompletionPort(INVALID_HANDLE_VALUE, 0, 0, 0) as number
  if (port === 0) throw lastError(w, 'CreateIoCompletionPort')
  const entries: unknown = w.LocalAlloc(LPTR, BATCH * ENTRY_SIZE)
  const removed: unknown = w.LocalAlloc(LPTR, COUNT_SIZE)
  if (!entries || !removed) throw lastError(w, 'LocalAlloc')
  return new CompletionPort(w, port, entries, removed)
}
