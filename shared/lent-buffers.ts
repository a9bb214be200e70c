import { read } from 'node:fs'
import { Socket } from 'node:net'
import { Readable } from 'node:stream'

/**
 * Reading into buffers the reader owns. A plain Readable allocates a new
 * Buffer for every chunk (a socket 64 KiB per read, fs.ReadStream too), and
 * the chunks already relayed lie about as garbage until V8 gets round to
 * collecting them: relaying 64 MiB left ~27 MiB of them at the peak, and
 * fresh memory per chunk costs page faults as well. A relay that writes
 * each chunk on and reads again only into a buffer whose write has
 * completed needs two buffers, however much it moves.
 *
 * The streams made here stay ordinary Readables ('data' when nobody lends
 * them buffers, 'end', 'error', pause()), so any consumer can use them;
 * {@link lendBuffers} switches one over.
 */
export interface Borrower {
  /** The buffer the next read fills; called again after every {@link Borrower.take}. */
  next(): Buffer
  /**
   * `n` (> 0) bytes were read into the start of `buffer`; false stops
   * reading until the stream's `resume()`. `buffer` is one `next()` gave,
   * except before the first of those: what was read ahead before the
   * borrower came (bytes buffered, a read under way) arrives in buffers of
   * the stream's own, which the borrower may keep; nothing reads into them
   * again.
   */
  take(n: number, buffer: Buffer): boolean
}

const lend = Symbol('lend')

interface Lender {
  /** Switch to `borrower`; `early` is what was read and buffered before it came, to be taken first. */
  [lend](borrower: Borrower, early: Buffer | undefined): void
}

/**
 * From now on, read `stream` into `borrower`'s buffers instead of emitting
 * 'data'; EOF and errors still come as 'end' and 'error'. What a read ahead
 * (`read(0)`, as npiperelay does while it opens its pipe) left buffered, and
 * the read still under way, reach the borrower first, in order. False when
 * the stream cannot (not made here) or someone consumes it already ('data',
 * pipe): read it as a Readable then.
 */
export function lendBuffers(stream: Readable, borrower: Borrower): boolean {
  if (!(lend in stream) || stream.readableFlowing !== null) return false
  const early = stream.readableLength > 0 ? (stream.read() as Buffer | null) : null
  ;(stream as Readable & Lender)[lend](borrower, early ?? undefined)
  return true
}

/** Bytes a read asks for when nobody lends buffers: as much as libuv's own socket reads. */
const READ_SIZE = 64 * 1024

/**
 * A read-only `net.Socket` on `fd` (a socket or FIFO) that can read into
 * lent buffers, through Node's `onread`. Until a borrower comes, each read
 * lands in one scratch buffer and a copy of its bytes is pushed, as a plain
 * socket would deliver them; once one has come, the scratch buffer is no
 * longer read into.
 */
export function lendingSocket(fd: number): Socket {
  const scratch = Buffer.allocUnsafe(READ_SIZE)
  let borrower: Borrower | undefined
  const socket: Socket = new Socket({
    fd,
    readable: true,
    writable: false,
    allowHalfOpen: true,
    onread: {
      buffer: () => borrower?.next() ?? scratch,
      callback: (n: number, buffer: Buffer): boolean => {
        if (borrower) return borrower.take(n, buffer)
        return socket.push(Buffer.from(buffer.subarray(0, n)))
      },
    },
  })
  return Object.assign(socket, {
    [lend]: (b: Borrower, early: Buffer | undefined) => {
      borrower = b
      if (early && !b.take(early.length, early)) socket.pause()
    },
  })
}

/**
 * A Readable over a file descriptor read with `fs.read`, one read at a time:
 * for stdin where it cannot be a socket (Windows, where Wine's Unix pipes
 * defeat libuv's pipe code; a regular file anywhere). Replaces
 * `fs.createReadStream`, which allocates a buffer per read and a second one
 * whenever a read comes back short, as a pipe's reads do. Unlike it, this
 * leaves the descriptor open at the end: the process exits soon after, and
 * closing it would not interrupt a read parked in a worker thread anyway.
 */
export class FdReader extends Readable implements Lender {
  readonly #fd: number
  #borrower: Borrower | undefined
  #scratch: Buffer | undefined
  #reading = false
  #stopped = false
  #eof = false
  /** Bytes a read brought in after pause() (the pump's session was over): held for resume(). */
  #held: [number, Buffer] | undefined

  constructor(fd: number) {
    super({ highWaterMark: READ_SIZE })
    this.#fd = fd
  }

  [lend](borrower: Borrower, early: Buffer | undefined): void {
    this.#borrower = borrower
    if (early && !borrower.take(early.length, early)) this.#stopped = true
  }

  override _read(size: number): void {
    if (this.#borrower) return this.#lent()
    const scratch = (this.#scratch ??= Buffer.allocUnsafe(Math.max(size, READ_SIZE)))
    this.#readInto(scratch, (n) => {
      if (n === 0) return void this.push(null)
      // A borrower came while this read was under way: the bytes are its.
      if (this.#borrower) this.#handOver(n, scratch)
      else this.push(Buffer.from(scratch.subarray(0, n)))
    })
  }

  override resume(): this {
    this.#stopped = false
    super.resume()
    const held = this.#held
    this.#held = undefined
    if (held) this.#handOver(...held)
    else this.#lent()
    return this
  }

  override pause(): this {
    this.#stopped = true
    return super.pause()
  }

  /** The borrower's loop: read, hand over, read again while it says so. */
  #lent(): void {
    const borrower = this.#borrower
    if (!borrower || this.#reading || this.#stopped || this.#eof || this.destroyed) return
    const buffer = borrower.next()
    this.#readInto(buffer, (n) => {
      if (n === 0) return void this.push(null)
      this.#handOver(n, buffer)
    })
  }

  #handOver(n: number, buffer: Buffer): void {
    // Stopped while the read was under way: the borrower said no more, or
    // the session ended (pause()); the bytes wait for a resume().
    if (this.#stopped) this.#held = [n, buffer]
    else if (this.#borrower?.take(n, buffer)) this.#lent()
    else this.#stopped = true
  }

  #readInto(buffer: Buffer, then: (n: number) => void): void {
    this.#reading = true
    read(this.#fd, buffer, 0, buffer.length, null, (err, n) => {
      this.#reading = false
      if (this.destroyed) return
      if (err) return void this.destroy(err)
      if (n === 0) this.#eof = true
      then(n)
    })
  }
}
