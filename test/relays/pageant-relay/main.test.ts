/**
 * pageant-relay's agent path on Linux with a real ssh-agent standing in for
 * Pageant's pipe (--ssh), and the flags; Pageant itself is tested under Wine.
 */
import path from 'node:path'
import t from 'tap'
import { gpgSocketPath } from '../../../shared/channels/assuan/gpg-socket.js'
import { main } from '../../../relays/pageant-relay/main.js'
import { uniqueMappingName } from '../../../shared/channels/pageant/wm-copydata.js'
import { AgentMessage, encodeFrame } from '../../../shared/agent/frames.js'
import { memoryIo } from '../../fixtures/memory-io.js'
import { AGENT_TOOLS, startAgent } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'
import { shortTempDir } from '../../../lab/temp-dir.js'

t.test('--ssh SOCKET: requests answered by a real ssh-agent, frame by frame', needs(t, AGENT_TOOLS), async (t) => {
  const agent = await startAgent(t, shortTempDir(t))
  const m = memoryIo()
  const result = main(['--ssh', agent.socket, '-v'], m.io)
  m.stdin.end(Buffer.concat([encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES), encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)]))
  t.equal(await result, 0)
  const out = m.stdout()
  const first = out.readUInt32BE(0) + 4
  t.equal(out[4], AgentMessage.SSH_AGENT_IDENTITIES_ANSWER)
  t.equal(out[first + 4], AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, 'second answer too')
  t.ok(out.includes(Buffer.from('relaykit-test')), 'the key comment is in the answer')
  t.notMatch(m.stderr(), /relaykit-test/, 'the log holds no key material')
})

t.test('--ssh to a missing agent: FAILURE per request, clear message, exit 3 at the end', async (t) => {
  const m = memoryIo()
  const result = main(['--ssh', '/nonexistent/agent.sock', '--transport', 'pipe'], m.io)
  m.stdin.end(encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES))
  t.equal(await result, 3, 'unavailable: the agent could not be reached')
  t.same([...m.stdout()], [0, 0, 0, 1, 5])
  t.match(m.stderr(), /failed, answering SSH_AGENT_FAILURE: no agent listens on \/nonexistent\/agent.sock: is it running\?/)
})

t.test('on Linux without --ssh: says Pageant is Windows-only', async (t) => {
  const m = memoryIo()
  t.equal(await main([], m.io), 3)
  t.match(m.stderr(), /Pageant exists only on Windows/)
})

t.test('bad flag values are usage errors', async (t) => {
  const m = memoryIo()
  t.equal(await main(['--transport', 'carrier-pigeon'], m.io), 2)
  t.equal(await main(['--timeout', '-1'], memoryIo().io), 2)
  t.equal(await main(['--nope'], memoryIo().io), 2)
})

t.test('--logfile takes the diagnostics off stderr', async (t) => {
  const dir = shortTempDir(t)
  const logfile = path.join(dir, 'relay.log')
  const m = memoryIo()
  t.equal(await main(['--logfile', logfile], m.io), 3)
  t.equal(m.stderr(), '')
  const { readFileSync, statSync } = await import('node:fs')
  t.match(readFileSync(logfile, 'utf8'), /Pageant exists only on Windows/)
  t.equal(statSync(logfile).mode & 0o777, 0o600, 'the log is private')
})

t.test('--gpg looks in LOCALAPPDATA, then APPDATA, or --gpgConfigBasepath', async (t) => {
  const dir = t.testdir({ local: { gnupg: {} }, roaming: { gnupg: { 'S.gpg-agent': 'x' } } })
  const env = { LOCALAPPDATA: path.join(dir, 'local'), APPDATA: path.join(dir, 'roaming') }
  t.equal(gpgSocketPath('S.gpg-agent', undefined, env), path.join(dir, 'roaming', 'gnupg', 'S.gpg-agent'))
  t.equal(gpgSocketPath('S.gpg-agent', '/base', env), '/base/S.gpg-agent')
  t.throws(() => gpgSocketPath('S.missing', undefined, env), /no gpg-agent socket file S.missing in .*local.*or .*roaming/)
  t.throws(() => gpgSocketPath('S.x', undefined, {}), /pass --gpgConfigBasepath/)
})

t.test('mapping names never repeat', async (t) => {
  const names = new Set(Array.from({ length: 10_000 }, () => uniqueMappingName()))
  t.equal(names.size, 10_000)
})
