import { Duplex } from 'node:stream'
import { type AgentFrame, FrameParser } from '../../agent/frames.js'
import { messageOf } from '../../relay-error.js'

/**
 * The WM_COPYDATA window's way to RELAY: one connection, handed to
 * relay-listen's connection handler like a pipe client's (in-process
 * relay, spawned command or mux stream), kept for successive requests
 * instead of one connection per request. Opening a connection costs the
 * upstream's connect and handshake (a Cygwin socket file: TCP and two
 * round trips), several times what a request costs once connected.
 *
 * One request at a time, in order: the window thread hands requests over
 * one by one anyway. The connection is dropped, and the next request opens
 * a new one, whenever it can no longer be trusted to answer in step: RELAY
 * ended or failed (the upstream died), an answer was malformed, came
 * unasked, or did not come within the timeout (a late answer would be
 * taken for the next request's). So a dead upstream costs one request (or
 * none, if it died while idle: the relay ends and the connection is gone
 * before the next request comes).
 */
export class UpstreamSession {
  readonly #onConnection: (connection: Duplex) => void
  readonly #maxAnswer: number
  #link: Link | undefined
  #turn: Promise<unknown> = Promise.resolve()

  constructor(onConnection: (connection: Duplex) => void, maxAnswer: number) {
    this.#onConnection = onConnection
    this.#maxAnswer = maxAnswer
  }

  /** The answer to `request`; rejects if RELAY gives none within `timeoutMs` (counted from this call). */
  ask(request: AgentFrame, timeoutMs: number): Promise<AgentFrame> {
    const deadline = Date.now() + timeoutMs
    const asked = this.#turn.then(() => this.#askNow(request, deadline, timeoutMs))
    this.#turn = asked.catch(() => {})
    return asked
  }

  /** Drop the connection (relay-listen closes it too when it stops). */
  close(): void {
    this.#link?.connection.destroy()
  }

  async #askNow(request: AgentFrame, deadline: number, timeoutMs: number): Promise<AgentFrame> {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`no answer within ${timeoutMs} ms: the previous request took that long`)
    if (!this.#link?.open) {
      this.#link = new Link(this.#maxAnswer)
      this.#onConnection(this.#link.connection)
    }
    const link = this.#link
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), left)
    })
    try {
      return await Promise.race([link.ask(request), timeout])
    } catch (err) {
      link.connection.destroy()
      throw err
    } finally {
      clearTimeout(timer)
    }
  }
}

/** One connection to RELAY: requests go out as its readable side, answers come in on its writable side. */
class Link {
  readonly connection: Duplex
  readonly #parser: FrameParser
  #open = true
  #waiting: { resolve(f: AgentFrame): void; reject(e: Error): void } | undefined

  constructor(maxAnswer: number) {
    this.#parser = new FrameParser({ maxLength: maxAnswer })
    this.connection = new Duplex({
      read() {},
      write: (chunk: Buffer, _encoding, callback) => {
        this.#received(chunk)
        callback()
      },
      final: (callback) => {
        this.#fail(new Error('the relay ended'))
        this.connection.push(null) // no more requests either: let RELAY finish
        callback()
      },
      destroy: (err, callback) => {
        this.#fail(new Error(err ? `the relay failed: ${messageOf(err)}` : 'the relay closed'))
        callback(null)
      },
    })
  }

  get open(): boolean {
    return this.#open
  }

  ask(request: AgentFrame): Promise<AgentFrame> {
    if (!this.#open) return Promise.reject(new Error('the relay closed'))
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject }
      this.connection.push(request.bytes)
    })
  }

  #received(chunk: Buffer): void {
    if (!this.#open) return
    let frames: AgentFrame[]
    try {
      frames = this.#parser.push(chunk)
    } catch (err) {
      return this.#fail(new Error(`the relay's answer is not a message: ${messageOf(err)}`))
    }
    if (frames.length === 0) return
    const waiting = this.#waiting
    this.#waiting = undefined
    if (!waiting || frames.length > 1) {
      // Out of step: an answer nobody asked for would be taken for the next request's.
      waiting?.reject(new Error('the relay answered more than it was asked'))
      this.connection.destroy()
      return
    }
    waiting.resolve(frames[0] as AgentFrame)
  }

  #fail(error: Error): void {
    this.#open = false
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.reject(error)
  }
}
