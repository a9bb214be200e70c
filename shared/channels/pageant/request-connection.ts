import { Duplex } from 'node:stream'
import { type AgentFrame, FrameParser } from '../../agent/frames.js'
import { messageOf } from '../../relay-error.js'

/**
 * One WM_COPYDATA request as a connection, so that it reaches RELAY exactly
 * as a pipe client's does (in-process relay, spawned command or mux
 * stream): the connection reads as the request and then, once the answer
 * has come, as EOF. EOF is held back until then because some upstreams have
 * no half-close (a named pipe closes both ways) and would lose the answer.
 * Everything RELAY writes after the first whole message is ignored.
 */
export interface RequestConnection {
  readonly connection: Duplex
  /** The first whole message RELAY writes; rejects if the connection ends without one. */
  readonly answer: Promise<AgentFrame>
}

export function requestConnection(request: AgentFrame, maxAnswer: number): RequestConnection {
  const parser = new FrameParser({ maxLength: maxAnswer })
  let settle: { resolve(f: AgentFrame): void; reject(e: Error): void } | undefined
  const answer = new Promise<AgentFrame>((resolve, reject) => (settle = { resolve, reject }))
  const done = (outcome: AgentFrame | Error) => {
    const s = settle
    settle = undefined
    if (!s) return
    if (outcome instanceof Error) s.reject(outcome)
    else {
      s.resolve(outcome)
      connection.push(null)
    }
  }
  const connection = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      if (settle) {
        try {
          const [first] = parser.push(chunk)
          if (first) done(first)
        } catch (err) {
          done(new Error(`the relay's answer is not a message: ${messageOf(err)}`))
        }
      }
      callback()
    },
    final(callback) {
      done(new Error('the relay ended without answering'))
      callback()
    },
    destroy(err, callback) {
      done(new Error(err ? `the relay failed: ${messageOf(err)}` : 'the relay closed without answering'))
      callback(null)
    },
  })
  connection.push(request.bytes)
  return { connection, answer }
}
