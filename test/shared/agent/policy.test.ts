import { PassThrough } from 'node:stream'
import t from 'tap'
import { AGENT_FAILURE_FRAME, AgentMessage, encodeFrame, FrameParser, makeFrame } from '../../../shared/agent/frames.js'
import { DENY_GROUPS, parsePolicy, withPolicy } from '../../../shared/agent/policy.js'
import { type AgentQuery } from '../../../shared/agent/relay.js'
import { FlagError } from '../../../shared/go-flags.js'
import { createLog } from '../../../shared/log.js'

const M = AgentMessage

function frame(type: number) {
  const bytes = encodeFrame(type, Buffer.from('contents'))
  return new FrameParser().push(bytes)[0]!
}

/** A query that records what reached "the agent" and answers SUCCESS. */
function recordingAgent() {
  const asked: number[] = []
  const query: AgentQuery = (request) => {
    asked.push(request.type)
    return Promise.resolve(makeFrame(M.SSH_AGENT_SUCCESS))
  }
  return { asked, query }
}

t.test('-deny words cover every SSH1 and SSH2 form of the request', async (t) => {
  const policy = parsePolicy({ deny: 'add, REMOVE,lock' })
  t.same(
    [...policy.deny].sort((a, b) => a - b),
    [7, 8, 9, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26],
  )
  t.same([...parsePolicy({ deny: 'sign+27' }).deny].sort((a, b) => a - b), [3, 13, 27])
  t.equal(parsePolicy({}).deny.size, 0)
  t.equal(parsePolicy({}).compat, false)
  t.throws(() => parsePolicy({ deny: 'add,nosuch' }), new FlagError('-deny: unknown request type "nosuch" (use list, sign, add, remove, lock, smartcard, extension or a number 1-255)'))
  t.throws(() => parsePolicy({ deny: '256' }), FlagError)
  t.throws(() => parsePolicy({ deny: '0' }), FlagError)
})

t.test('denied requests are answered FAILURE without reaching the agent; others pass', async (t) => {
  const agent = recordingAgent()
  const stderr = new PassThrough()
  const log: string[] = []
  stderr.on('data', (d: Buffer) => log.push(d.toString()))
  const query = withPolicy(agent.query, parsePolicy({ deny: 'add,remove' }), createLog(stderr, 'test', false))
  for (const type of [...(DENY_GROUPS.add ?? []), ...(DENY_GROUPS.remove ?? [])]) {
    t.same((await query(frame(type))).bytes, AGENT_FAILURE_FRAME, `type ${type} refused`)
  }
  t.same((await query(frame(M.SSH_AGENTC_REQUEST_IDENTITIES))).bytes, encodeFrame(M.SSH_AGENT_SUCCESS))
  t.same((await query(frame(M.SSH_AGENTC_SIGN_REQUEST))).bytes, encodeFrame(M.SSH_AGENT_SUCCESS))
  t.same(agent.asked, [M.SSH_AGENTC_REQUEST_IDENTITIES, M.SSH_AGENTC_SIGN_REQUEST], 'only the allowed requests reached the agent')
  t.match(log.join(''), /test: refused SSH_AGENTC_ADD_IDENTITY \(-deny\)/)
  t.notMatch(log.join(''), /contents/, 'the log never holds message contents')
})

t.test('-compat answers SSH_AGENTC_EXTENSION locally, and only that', async (t) => {
  const agent = recordingAgent()
  const query = withPolicy(agent.query, parsePolicy({ compat: true }), createLog(new PassThrough(), 'test', true))
  t.same((await query(frame(M.SSH_AGENTC_EXTENSION))).bytes, AGENT_FAILURE_FRAME)
  t.same((await query(frame(M.SSH_AGENTC_REQUEST_IDENTITIES))).bytes, encodeFrame(M.SSH_AGENT_SUCCESS))
  t.same(agent.asked, [M.SSH_AGENTC_REQUEST_IDENTITIES])
})

t.test('no policy: the query is used as it is', async (t) => {
  const agent = recordingAgent()
  t.equal(withPolicy(agent.query, parsePolicy({}), createLog(new PassThrough(), 'test', false)), agent.query)
})
