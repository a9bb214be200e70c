/**
 * The window's connection to RELAY (upstream-session.ts), in memory: the
 * Duplex handed to onConnection plays RELAY. Successive requests share one
 * connection; whenever it can no longer answer in step (RELAY ended or
 * failed, an answer late, malformed or unasked), the request fails and the
 * next one gets a new connection.
 */
import type { Duplex } from 'node:stream'
import t from 'tap'
import { encodeFrame, frameOf } from '../../../../shared/agent/frames.js'
import { UpstreamSession } from '../../../../shared/channels/pageant/upstream-session.js'

const REQUEST = frameOf(encodeFrame(11))
const ANSWER = encodeFrame(12, Buffer.from([0, 0, 0, 0]))

/** A session whose RELAY answers with `reply(connection, request bytes)`; `connections` lists every one opened. */
function session(reply: (connection: Duplex, request: Buffer) => void, maxAnswer = 1024) {
  const connections: Duplex[] = []
  const s = new UpstreamSession((connection) => {
    connections.push(connection)
    connection.on('data', (d: Buffer) => reply(connection, d))
  }, maxAnswer)
  return { s, connections }
}

t.test('successive requests share one connection; an answer split at every byte is whole', async (t) => {
  const seen: string[] = []
  let cut = 1
  const { s, connections } = session((c, d) => {
    seen.push(d.toString('hex'))
    c.write(ANSWER.subarray(0, cut))
    setImmediate(() => c.write(ANSWER.subarray(cut)))
  })
  for (; cut < ANSWER.length; cut++) t.equal((await s.ask(REQUEST, 1000)).bytes.toString('hex'), ANSWER.toString('hex'), `cut ${cut}`)
  t.equal(connections.length, 1)
  t.same(new Set(seen), new Set([REQUEST.bytes.toString('hex')]))
  t.equal(seen.length, ANSWER.length - 1)
})

t.test('RELAY ending or failing fails the request; the next one opens a new connection', async (t) => {
  let mode: 'end' | 'destroy' | 'answer' = 'end'
  const { s, connections } = session((c) => {
    if (mode === 'end') c.end()
    else if (mode === 'destroy') c.destroy(new Error('upstream gone'))
    else c.write(ANSWER)
  })
  await t.rejects(s.ask(REQUEST, 1000), /the relay ended/)
  mode = 'destroy'
  await t.rejects(s.ask(REQUEST, 1000), /the relay failed: upstream gone/)
  mode = 'answer'
  t.equal((await s.ask(REQUEST, 1000)).type, 12)
  t.equal(connections.length, 3)
  t.ok(connections[0]?.readableEnded, 'an ended relay gets EOF too')
})

t.test('a relay that ends while idle is replaced before the next request', async (t) => {
  const { s, connections } = session((c) => c.write(ANSWER))
  await s.ask(REQUEST, 1000)
  connections[0]?.end()
  await new Promise((r) => setImmediate(r))
  t.equal((await s.ask(REQUEST, 1000)).type, 12)
  t.equal(connections.length, 2)
})

t.test('no answer in time: the request fails, its connection is dropped, a late answer is not taken for the next', async (t) => {
  let answerAfter = 200
  const { s, connections } = session((c) => setTimeout(() => c.writable && c.write(encodeFrame(answerAfter === 200 ? 5 : 12)), answerAfter))
  await t.rejects(s.ask(REQUEST, 50), /no answer within 50 ms/)
  t.ok(connections[0]?.destroyed, 'the late connection is destroyed')
  answerAfter = 0
  t.equal((await s.ask(REQUEST, 1000)).type, 12)
  t.equal(connections.length, 2)
})

t.test('malformed, oversized or unasked answers fail the request and drop the connection', async (t) => {
  let answer: Buffer = Buffer.from([0, 0, 0, 0])
  const { s, connections } = session((c) => c.write(answer), 64)
  await t.rejects(s.ask(REQUEST, 1000), /not a message/)
  answer = encodeFrame(12, Buffer.alloc(100))
  await t.rejects(s.ask(REQUEST, 1000), /not a message/)
  answer = Buffer.concat([ANSWER, ANSWER])
  await t.rejects(s.ask(REQUEST, 1000), /answered more than it was asked/)
  answer = ANSWER
  t.equal((await s.ask(REQUEST, 1000)).type, 12)
  t.equal(connections.length, 4)
})

t.test('requests go one at a time, in order', async (t) => {
  const order: number[] = []
  let n = 0
  const { s } = session((c) => {
    const i = n++
    order.push(i)
    setTimeout(() => c.write(encodeFrame(12, Buffer.from([0, 0, 0, i]))), 10)
  })
  const answers = await Promise.all([s.ask(REQUEST, 1000), s.ask(REQUEST, 1000), s.ask(REQUEST, 1000)])
  t.same(answers.map((a) => a.bytes[8]), [0, 1, 2])
  t.same(order, [0, 1, 2])
})
