/**
 * -deny and SSH_AGENTC_EXTENSION: a group covers the extensions that do what
 * its message numbers do (matched by the name inside the request), and an
 * extension relaykit does not know is refused while any -deny is in effect.
 */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { AGENT_FAILURE_FRAME, AgentMessage, encodeFrame, extensionName, makeFrame } from '../../../shared/agent/frames.js'
import { parsePolicy, withPolicy } from '../../../shared/agent/policy.js'
import type { AgentQuery } from '../../../shared/agent/relay.js'
import { createLog } from '../../../shared/log.js'

const M = AgentMessage
const SUCCESS = encodeFrame(M.SSH_AGENT_SUCCESS)

/** SSH_AGENTC_EXTENSION: string name, then the extension's own contents. */
function extension(name: string | Buffer, contents: Buffer = Buffer.from('ppk file bytes')) {
  const n = Buffer.isBuffer(name) ? name : Buffer.from(name)
  const len = Buffer.alloc(4)
  len.writeUInt32BE(n.length)
  return makeFrame(M.SSH_AGENTC_EXTENSION, Buffer.concat([len, n, contents]))
}

function setup(deny: string | undefined) {
  const asked: string[] = []
  const agent: AgentQuery = (request) => {
    asked.push(extensionName(request) ?? String(request.type))
    return Promise.resolve(makeFrame(M.SSH_AGENT_SUCCESS))
  }
  const stderr = new PassThrough()
  let log = ''
  stderr.on('data', (d: Buffer) => (log += d.toString()))
  const query = withPolicy(agent, parsePolicy(deny === undefined ? {} : { deny }), createLog(stderr, 'test', false))
  return { asked, query, log: () => log }
}

const putty = (name: string) => `${name}@putty.projects.tartarus.org`

t.test('extensionName reads the string after the type byte, and nothing that does not fit', async (t) => {
  t.equal(extensionName(extension(putty('add-ppk'))), putty('add-ppk'))
  t.equal(extensionName(extension('query', Buffer.alloc(0))), 'query')
  t.equal(extensionName(makeFrame(M.SSH_AGENTC_EXTENSION)), undefined, 'no name at all')
  t.equal(extensionName(makeFrame(M.SSH_AGENTC_EXTENSION, Buffer.from([0, 0, 0, 9, 0x61]))), undefined, 'name longer than the message')
  t.equal(extensionName(makeFrame(M.SSH_AGENTC_ADD_IDENTITY, Buffer.from([0, 0, 0, 1, 0x61]))), undefined, 'not an extension')
})

t.test('each group refuses the extensions that do what it denies', async (t) => {
  const cases: [string, string[]][] = [
    ['add', [putty('add-ppk')]],
    ['remove', [putty('reencrypt'), putty('reencrypt-all')]],
    ['lock', [putty('reencrypt'), putty('reencrypt-all')]],
    ['list', [putty('list-extended')]],
  ]
  for (const [group, names] of cases) {
    const s = setup(group)
    for (const name of names) t.same((await s.query(extension(name))).bytes, AGENT_FAILURE_FRAME, `-deny ${group} refuses ${name}`)
    t.same(s.asked, [], `-deny ${group}: nothing reached the agent`)
    t.match(s.log(), `refused SSH_AGENTC_EXTENSION "${names[0]}" (-deny)`)
    t.notMatch(s.log(), /ppk file bytes/, 'the log never holds the contents')
  }
})

t.test('-deny add+remove+lock: signing, listing and harmless extensions still pass', async (t) => {
  const s = setup('add+remove+lock')
  for (const name of ['session-bind@openssh.com', 'query', putty('list-extended')]) {
    t.same((await s.query(extension(name))).bytes, SUCCESS, `${name} forwarded`)
  }
  t.same((await s.query(makeFrame(M.SSH_AGENTC_SIGN_REQUEST, Buffer.from('x')))).bytes, SUCCESS)
  t.same(s.asked, ['session-bind@openssh.com', 'query', putty('list-extended'), String(M.SSH_AGENTC_SIGN_REQUEST)])
})

t.test('with any -deny, unknown and nameless extensions are refused; without -deny all pass', async (t) => {
  const odd = [extension('delete-everything@example.com'), extension(Buffer.from([0x1b, 0x5b, 0x32, 0x4a])), makeFrame(M.SSH_AGENTC_EXTENSION)]
  const denied = setup('sign')
  for (const request of odd) t.same((await denied.query(request)).bytes, AGENT_FAILURE_FRAME)
  t.same(denied.asked, [])
  t.match(denied.log(), 'refused SSH_AGENTC_EXTENSION "delete-everything@example.com", an extension relaykit does not know (-deny)')
  t.match(denied.log(), 'refused SSH_AGENTC_EXTENSION "?[2J"', 'control bytes of a name never reach the terminal')
  t.match(denied.log(), 'refused SSH_AGENTC_EXTENSION without a valid name (-deny)')

  const open = setup(undefined)
  for (const request of odd) t.same((await open.query(request)).bytes, SUCCESS)
  t.equal(open.asked.length, 3, 'no -deny: every extension forwarded')
})

t.test('an add-ppk name with the wrong case or a suffix is not the known extension, so it is refused too', async (t) => {
  const s = setup('list')
  t.same((await s.query(extension(putty('ADD-PPK')))).bytes, AGENT_FAILURE_FRAME)
  t.same((await s.query(extension(putty('add-ppk') + '\0'))).bytes, AGENT_FAILURE_FRAME)
  t.same(s.asked, [])
})

t.test('-deny ext:NAME refuses that extension by its exact name; query always passes', async (t) => {
  const s = setup(`ext:${putty('list-extended')}+ext:session-bind@openssh.com`)
  t.same((await s.query(extension(putty('list-extended')))).bytes, AGENT_FAILURE_FRAME, 'named: refused')
  t.same((await s.query(extension('session-bind@openssh.com'))).bytes, AGENT_FAILURE_FRAME, 'named: refused')
  t.same((await s.query(extension('query'))).bytes, SUCCESS, 'query passes')
  t.same((await s.query(extension(putty('add-ppk')))).bytes, SUCCESS, 'a known extension not named passes')
  t.same((await s.query(makeFrame(M.SSH_AGENTC_SIGN_REQUEST, Buffer.from('x')))).bytes, SUCCESS, 'no message type is denied')
  t.same(s.asked, ['query', putty('add-ppk'), String(M.SSH_AGENTC_SIGN_REQUEST)])
  t.throws(() => parsePolicy({ deny: 'ext:query' }), /query extension only lists extension names and always passes/)
  t.throws(() => parsePolicy({ deny: 'ext:' }), /needs an extension name/)
})
