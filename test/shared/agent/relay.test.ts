import t from 'tap'
import { AGENT_FAILURE_FRAME, AgentMessage, encodeFrame, makeFrame } from '../../../shared/agent/frames.js'
import { type AgentQuery, relayAgent } from '../../../shared/agent/relay.js'
import { RelayError } from '../../../shared/relay-error.js'
import { ExitCode } from '../../../shared/exit-codes.js'
import { createLog } from '../../../shared/log.js'
import { memoryIo } from '../../fixtures/memory-io.js'

const identities = encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)
const answerFrame = makeFrame(AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, Buffer.from([0, 0, 0, 0]))
const answer = answerFrame.bytes

function run(query: AgentQuery, input: Buffer[], opts: { maxQueued?: number } = {}) {
  const m = memoryIo()
  const result = relayAgent(m.io, query, { log: createLog(m.io.stderr, 'test', true), ...opts })
  for (const chunk of input) m.stdin.write(chunk)
  m.stdin.end()
  return { m, result }
}

t.test('answers each request in order, then ends at stdin EOF', async (t) => {
  const seen: number[] = []
  const { m, result } = run(async (req) => {
    seen.push(req.type)
    // answer the first one slowly: order must still hold
    await new Promise((r) => setTimeout(r, req.type === 11 ? 30 : 0))
    return req.type === 11 ? answerFrame : makeFrame(AgentMessage.SSH_AGENT_SUCCESS)
  }, [Buffer.concat([identities, encodeFrame(AgentMessage.SSH_AGENTC_LOCK, Buffer.from('pw'))])])
  t.equal(await result, ExitCode.OK)
  t.same(seen, [11, 22])
  t.same(m.stdout(), Buffer.concat([answer, encodeFrame(AgentMessage.SSH_AGENT_SUCCESS)]))
  t.match(m.stderr(), /-> SSH_AGENTC_REQUEST_IDENTITIES \(1 bytes\)/)
  t.match(m.stderr(), /<- SSH_AGENT_IDENTITIES_ANSWER \(5 bytes\)/)
  t.notMatch(m.stderr(), /pw/, 'payload never logged')
})

t.test('a failed query answers SSH_AGENT_FAILURE, the session goes on, and the exit code is the first failure\'s', async (t) => {
  let n = 0
  const { m, result } = run(async () => {
    n++
    if (n === 1) throw new RelayError('Pageant is not running', ExitCode.UNAVAILABLE)
    if (n === 2) throw new RelayError('Pageant did not answer', ExitCode.TIMEOUT)
    return answerFrame
  }, [identities, identities, identities])
  t.equal(await result, ExitCode.UNAVAILABLE, 'the first failure decides the exit code')
  t.same(m.stdout(), Buffer.concat([AGENT_FAILURE_FRAME, AGENT_FAILURE_FRAME, answer]))
  t.match(m.stderr(), /SSH_AGENTC_REQUEST_IDENTITIES failed, answering SSH_AGENT_FAILURE: Pageant is not running/)

  const other = run(async () => {
    throw new Error('something else')
  }, [identities])
  t.equal(await other.result, ExitCode.ERROR, 'a failure without a code of its own is 1')
  t.equal(await run(async () => answerFrame, [identities]).result, ExitCode.OK, 'every request answered by the agent: 0')
})

t.test('an oversized or zero length on stdin is a protocol error after earlier answers', async (t) => {
  const { m, result } = run(async () => answerFrame, [identities, Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])])
  t.equal(await result, ExitCode.PROTOCOL)
  t.same(m.stdout(), answer, 'the request before the garbage was answered')
  t.match(m.stderr(), /exceeds the limit of 262144 bytes/)

  const same = run(async () => answerFrame, [Buffer.concat([identities, Buffer.from([0, 0, 0, 0])])])
  t.equal(await same.result, ExitCode.PROTOCOL)
  t.same(same.m.stdout(), answer, 'a request in the same chunk as the garbage is still answered')

  const z = run(async () => answerFrame, [Buffer.from([0, 0, 0, 0])])
  t.equal(await z.result, ExitCode.PROTOCOL)
})

t.test('stdin ending inside a message is reported, not answered', async (t) => {
  const { m, result } = run(async () => answerFrame, [identities.subarray(0, 3)])
  t.equal(await result, ExitCode.OK)
  t.equal(m.stdout().length, 0)
  t.match(m.stderr(), /ended inside a message/)
})

t.test('bounded: a slow agent pauses stdin after maxQueued requests', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let calls = 0
  const m = memoryIo()
  const result = relayAgent(m.io, async () => {
    calls++
    await gate
    return answerFrame
  }, { log: createLog(m.io.stderr, 't', false), maxQueued: 4 })
  for (let i = 0; i < 100; i++) m.stdin.write(identities)
  m.stdin.end()
  await new Promise((r) => setTimeout(r, 50))
  t.ok(m.stdin.isPaused(), 'stdin paused while the agent is busy')
  t.equal(calls, 1)
  release()
  t.equal(await result, ExitCode.OK)
  t.equal(calls, 100)
  t.equal(m.stdout().length, 100 * answer.length)
})
