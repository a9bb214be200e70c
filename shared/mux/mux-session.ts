import { EventEmitter } from 'node:events'
import { Duplex, type Readable, type Writable } from 'node:stream'
import type { Log } from '../log.js'
import { messageOf } from '../relay-error.js'
import {
  MUX_HELLO,
  MUX_INITIAL_WINDOW,
  MUX_MAX_PAYLOAD,
  type MuxFrame,
  MuxParser,
  MuxType,
  encodeMuxFrame,
} from './mux-frames.js'
import { StreamTable } from './stream-table.js'

/**
 * One end of a mux connection (see mux-frames.ts for the wire format). The
 * listener side opens streams; the mux side is told about them ('stream'
 * event). Each stream is a Duplex a relay can use as its stdin and stdout.
 */
export class MuxSession extends EventEmitter {
  readonly #out: Writable
  readonly #log: Log
  readonly #streams = new StreamTable<MuxStream>()
  #nextId = 1
  #highestSeen = 0
  #closed = false
  #outputBlocked: (() => void)[] = []

  constructor(input: Readable, output: Writable, options: { log: Log; sayHello?: boolean }) {
    super()
    this.#out = output
    this.#log = options.log
    const parser = new MuxParser()
    input.on('data', (chunk: Buffer) => {
      let frames: MuxFrame[]
      try {
        frames = parser.push(chunk)
      } catch (err) {
        this.close(new Error(`mux framing lost: ${messageOf(err)}`))
        return
      }
      for (const f of frames) this.#dispatch(f)
    })
    input.once('end', () => this.close())
    input.on('error', (err) => this.close(err))
    output.on('error', (err) => this.close(err))
    output.on('drain', () => this.#outputBlocked.splice(0).forEach((r) => r()))
    if (options.sayHello) this.send(MuxType.HELLO, 0, Buffer.from(MUX_HELLO))
  }

  get streamCount(): number {
    return this.#streams.size
  }

  /** Listener side: a new stream. */
  open(): MuxStream {
    if (this.#closed) throw new Error('mux session is closed')
    const id = this.#nextId++
    const stream = new MuxStream(this, id)
    this.#streams.set(id, stream)
    this.send(MuxType.OPEN, id)
    return stream
  }

  /** Tear everything down; every stream fails with `err` (or just ends). */
  close(err?: Error): void {
    if (this.#closed) return
    this.#closed = true
    if (err) this.#log.error(messageOf(err))
    for (const s of this.#streams.values()) s.destroy(err ?? new Error('mux session closed'))
    this.#streams.clear()
    this.#outputBlocked.splice(0).forEach((r) => r())
    this.emit('close', err)
  }

  /** Write one frame; resolves when the output can take more. */
  send(type: MuxType, id: number, payload?: Buffer): Promise<void> {
    if (this.#closed || this.#out.destroyed) return Promise.resolve()
    if (this.#out.write(encodeMuxFrame(type, id, payload))) return Promise.resolve()
    return new Promise((r) => this.#outputBlocked.push(r))
  }

  forget(id: number): void {
    this.#streams.delete(id)
  }

  #dispatch(f: MuxFrame): void {
    if (f.type === MuxType.HELLO) {
      this.emit('hello', f.payload.toString())
      return
    }
    let stream = this.#streams.get(f.id)
    if (f.type === MuxType.OPEN) {
      if (stream || f.id <= this.#highestSeen) return this.#refuse(f.id, `OPEN of stream ${f.id}, which was already used`)
      this.#highestSeen = f.id
      stream = new MuxStream(this, f.id)
      this.#streams.set(f.id, stream)
      this.emit('stream', stream)
      return
    }
    if (!stream) {
      // Frames crossing a CLOSE are normal; data for ids never opened is not.
      // ERROR, CLOSE and WINDOW are never answered, or two sessions could
      // refuse each other's refusals forever.
      const neverOpened = f.id > Math.max(this.#highestSeen, this.#nextId - 1)
      if (neverOpened && (f.type === MuxType.DATA || f.type === MuxType.EOF)) {
        this.#refuse(f.id, `frame for stream ${f.id}, which was never opened`)
      }
      return
    }
    stream.receive(f)
  }

  #refuse(id: number, why: string): void {
    this.#log.error(`mux: ${why}`)
    void this.send(MuxType.ERROR, id, Buffer.from(why))
  }
}

/** One relay stream inside a {@link MuxSession}. */
export class MuxStream extends Duplex {
  readonly id: number
  readonly #session: MuxSession
  #sendCredit = MUX_INITIAL_WINDOW
  #creditWaiter: (() => void) | undefined
  #received = 0
  #granted = MUX_INITIAL_WINDOW
  #owed = 0
  #remoteClosed = false
  /** Exit code the far side reported with CLOSE, if any. */
  exitCode: number | undefined

  constructor(session: MuxSession, id: number) {
    // A small readable buffer: with the window, a stream holds at most
    // MUX_INITIAL_WINDOW + MUX_MAX_PAYLOAD bytes its consumer has not taken.
    super({ allowHalfOpen: true, readableHighWaterMark: MUX_MAX_PAYLOAD })
    this.#session = session
    this.id = id
    // A failed stream is reported to the far side and in the log; it must
    // not take the whole process down when nobody listens for its error.
    this.on('error', () => {})
  }

  /** Close the stream reporting the relay's exit code to the far side. */
  finish(exitCode: number): void {
    if (this.destroyed) return
    void this.#session.send(MuxType.CLOSE, this.id, Buffer.from([exitCode & 0xff]))
    this.#remoteClosed = true // nothing more to tell the far side
    this.destroy()
  }

  receive(f: MuxFrame): void {
    switch (f.type) {
      case MuxType.DATA:
        this.#received += f.payload.length
        if (this.#received > this.#granted) {
          void this.#session.send(MuxType.ERROR, this.id, Buffer.from('DATA beyond the window'))
          this.#remoteClosed = true
          this.destroy(new Error(`mux stream ${this.id}: the far side sent beyond its window`))
          return
        }
        // Credit the far side once the data has room in our buffer; if it
        // has none (push says stop), when the consumer asks for more (_read).
        if (this.push(f.payload)) this.#credit(f.payload.length)
        else this.#owed += f.payload.length
        return
      case MuxType.EOF:
        this.push(null)
        return
      case MuxType.WINDOW:
        this.#sendCredit += f.payload.length === 4 ? f.payload.readUInt32BE(0) : 0
        this.#creditWaiter?.()
        return
      case MuxType.CLOSE:
        this.exitCode = f.payload[0]
        this.#remoteClosed = true
        this.push(null)
        this.destroy()
        return
      case MuxType.ERROR:
        this.#remoteClosed = true
        this.destroy(new Error(`mux stream ${this.id}: ${f.payload.toString()}`))
        return
    }
  }

  #credit(n: number): void {
    this.#granted += n
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    void this.#session.send(MuxType.WINDOW, this.id, b)
  }

  override _read(): void {
    if (this.#owed === 0) return
    const n = this.#owed
    this.#owed = 0
    this.#credit(n)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    void this.#sendData(chunk).then(() => callback(), callback)
  }

  async #sendData(chunk: Buffer): Promise<void> {
    let at = 0
    while (at < chunk.length) {
      while (this.#sendCredit <= 0) {
        if (this.destroyed) throw new Error('stream closed')
        await new Promise<void>((r) => (this.#creditWaiter = r))
        this.#creditWaiter = undefined
      }
      const n = Math.min(chunk.length - at, this.#sendCredit, MUX_MAX_PAYLOAD)
      this.#sendCredit -= n
      await this.#session.send(MuxType.DATA, this.id, chunk.subarray(at, at + n))
      at += n
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    void this.#session.send(MuxType.EOF, this.id).then(() => callback())
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#remoteClosed) void this.#session.send(MuxType.CLOSE, this.id)
    this.#creditWaiter?.()
    this.#session.forget(this.id)
    callback(err)
  }
}
