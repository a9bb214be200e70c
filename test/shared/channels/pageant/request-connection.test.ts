/**
 * One WM_COPYDATA request as a connection (request-connection.ts): RELAY
 * reads the request and no EOF until it has answered (an upstream without
 * half-close would lose the answer otherwise); the first whole message it
 * writes is the answer, however it is split; ending or failing without one
 * rejects.
 */
import t from 'tap'
import { encodeFrame, frameOf } from '../../../../shared/agent/frames.js'
import { requestConnection } from '../../../../shared/channels/pageant/request-connection.js'

const REQUEST = frameOf(encodeFrame(11))
const ANSWER = encodeFrame(12, Buffer.from([0, 0, 0, 0]))

t.test('the request is read, EOF only after the answer, split at every byte', async (t) => {
  for (let cut = 1; cut < ANSWER.length; cut++) {
    const { connection, answer } = requestConnection(REQUEST, 1024)
    const read: Buffer[] = []
    let ended = false
    connection.on('data', (d: Buffer) => read.push(d))
    connection.on('end', () => (ended = true))
    await new Promise((r) => setImmediate(r))
    t.equal(Buffer.concat(read).toString('hex'), REQUEST.bytes.toString('hex'))
    connection.write(ANSWER.subarray(0, cut))
    await new Promise((r) => setImmediate(r))
    t.notOk(ended, `cut ${cut}: no EOF before the whole answer`)
    connection.write(ANSWER.subarray(cut))
    t.equal((await answer).bytes.toString('hex'), ANSWER.toString('hex'))
    await new Promise((r) => setImmediate(r))
    t.ok(ended, `cut ${cut}: EOF once answered`)
  }
})

t.test('no answer: ending, destroying or a malformed answer rejects', async (t) => {
  const ended = requestConnection(REQUEST, 1024)
  ended.connection.resume()
  ended.connection.end()
  await t.rejects(ended.answer, /ended without answering/)

  const destroyed = requestConnection(REQUEST, 1024)
  destroyed.connection.destroy()
  await t.rejects(destroyed.answer, /closed without answering/)

  const malformed = requestConnection(REQUEST, 1024)
  malformed.connection.write(Buffer.from([0, 0, 0, 0]))
  await t.rejects(malformed.answer, /not a message/)

  const oversized = requestConnection(REQUEST, 8)
  oversized.connection.write(encodeFrame(12, Buffer.alloc(100)))
  await t.rejects(oversized.answer, /not a message/)
})
