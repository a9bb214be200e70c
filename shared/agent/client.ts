import type { Duplex } from 'node:stream'
import { type AgentFrame, FrameParser } from './frames.js'
import { ExitCode } from '../exit-codes.js'
import { RelayError, messageOf } from '../relay-error.js'

/**
 * One request at a time to an agent that speaks the protocol on a byte
 * stream (a Unix socket, a named pipe). The connection is opened on first
 * use and again after the agent closed it, so a restarted agent is picked up
 * by the next request instead of failing the session.
 */
export class AgentStreamClient {
  #connect: () => Promise<Duplex>
  #timeoutMs: number
  #stream: Duplex | undefined
  #parser = new FrameParser()
  #waiting: { resolve(f: AgentFrame): void; reject(e: Error): void } | undefined

  constructor(connect: () => Promise<Duplex>, options: { timeoutMs: number }) {
    this.#connect = connect
    this.#timeoutMs = options.timeoutMs
  }

  /**
   * Send one whole message; resolves to the whole answer. Callers must not
   * overlap calls. A kept connection may have died since the last answer
   * (the agent restarted): then the request is sent once more on a new one.
   */
  async query(request: AgentFrame): Promise<AgentFrame> {
    const reused = this.#stream !== undefined
    try {
      return await this.#exchange(request)
    } catch (err) {
      const connectionLost = err instanceof RelayError && (err.exitCode === ExitCode.UNAVAILABLE || err.exitCode === ExitCode.ERROR)
      if (!reused || !connectionLost) throw err
      return this.#exchange(request)
    }
  }

  async #exchange(request: AgentFrame): Promise<AgentFrame> {
    const stream = this.#stream ?? (await this.#open())
    return new Promise<AgentFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#drop(new RelayError(`the agent did not answer within ${this.#timeoutMs} ms`, ExitCode.TIMEOUT))
      }, this.#timeoutMs)
      this.#waiting = {
        resolve: (f) => {
          clearTimeout(timer)
          resolve(f)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      stream.write(request.bytes)
    })
  }

  /** Close the connection (if any). */
  close(): void {
    this.#drop(new RelayError('closed', ExitCode.OK))
  }

  async #open(): Promise<Duplex> {
    const stream = await this.#connect()
    this.#parser = new FrameParser()
    stream.on('data', (chunk: Buffer) => {
      let frames: AgentFrame[]
      try {
        frames = this.#parser.push(chunk)
      } catch (err) {
        this.#drop(new RelayError(`the agent sent a malformed answer: ${messageOf(err)}`, ExitCode.PROTOCOL))
        return
      }
      for (const f of frames) {
        const w = this.#waiting
        this.#waiting = undefined
        if (w) w.resolve(f)
        else this.#drop(new RelayError('the agent sent an answer nobody asked for', ExitCode.PROTOCOL))
      }
    })
    // An old connection closing late must not take a newer one down.
    stream.once('close', () => {
      if (this.#stream === stream) this.#drop(new RelayError('the agent closed the connection before answering', ExitCode.UNAVAILABLE))
    })
    stream.on('error', (err) => {
      if (this.#stream === stream) this.#drop(new RelayError(`connection to the agent failed: ${messageOf(err)}`, ExitCode.ERROR))
    })
    this.#stream = stream
    return stream
  }

  #drop(reason: Error): void {
    const stream = this.#stream
    this.#stream = undefined
    stream?.destroy()
    const w = this.#waiting
    this.#waiting = undefined
    w?.reject(reason)
  }
}
