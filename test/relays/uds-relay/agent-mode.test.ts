/**
 * uds-relay --agent against real OpenSSH (the built executable behind
 * socat, in front of ssh-agent): message-by-message relaying, -v decoding,
 * -deny, -compat and --request-timeout.
 */
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { AgentMessage, encodeFrame, FrameParser } from '../../../shared/agent/frames.js'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { startRelay } from '../../fixtures/relay-process.js'
import { AGENT_TOOLS, SSHD_TOOLS, run, socatListen, sshAdd, startAgent, startSshd } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'
import { sessionBindDropper } from '../../fixtures/stand-in-agents.js'

const BEHIND_SOCAT = needs(t, [...AGENT_TOOLS, ...SSHD_TOOLS, 'socat'])

/** The relay's stderr as socat passes it on. */
function stderrOf(child: { stderr: NodeJS.ReadableStream | null }) {
  let text = ''
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()))
  return () => text
}

t.test('--agent -v: ssh-add and ssh work; the log names each message, never its bytes', BEHIND_SOCAT, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const relaySock = path.join(dir, 'relay.sock')
  const log = stderrOf(await socatListen(t, relaySock, `${exe} uds-relay --agent -v ${agent.socket}`))

  t.equal((await sshAdd(relaySock, ['-L'])).stdout.trim(), agent.publicKey)
  const second = path.join(dir, 'second')
  await run('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-C', 'second', '-f', second])
  await sshAdd(relaySock, ['-q', second])
  t.equal((await sshAdd(agent.socket, ['-l'])).stdout.trim().split('\n').length, 2, 'key added through the relay')
  await sshAdd(relaySock, ['-q', '-d', `${second}.pub`])

  const sshd = await startSshd(t, dir, agent.publicKey)
  t.match((await sshd.ssh(relaySock, ['-A'], 'ssh-add -l')).stdout, agent.fingerprint)

  t.match(log(), /uds-relay: -> SSH_AGENTC_REQUEST_IDENTITIES \(1 bytes\)\n/)
  t.match(log(), /uds-relay: <- SSH_AGENT_IDENTITIES_ANSWER \(\d+ bytes\)\n/)
  t.match(log(), /uds-relay: -> SSH_AGENTC_ADD_IDENTITY \(\d+ bytes\)\n/)
  t.match(log(), /uds-relay: -> SSH_AGENTC_SIGN_REQUEST \(\d+ bytes\)\n.*<- SSH_AGENT_SIGN_RESPONSE/s)
  t.notMatch(log(), /relaykit-test|second/, 'no key comment in the log')
})

t.test('-deny add+remove+lock: a forwarded agent that lists and signs but cannot be changed', BEHIND_SOCAT, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const relaySock = path.join(dir, 'relay.sock')
  const log = stderrOf(await socatListen(t, relaySock, `${exe} uds-relay -deny add+remove+lock ${agent.socket}`))

  t.match((await sshAdd(relaySock, ['-l'])).stdout, agent.fingerprint, 'listing still works')
  const second = path.join(dir, 'second')
  await run('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', second])
  const add = await sshAdd(relaySock, [second]).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((add as { code: number }).code, 1, 'ssh-add fails')
  t.match((add as { stderr: string }).stderr, /agent refused operation/)
  const removeAll = await sshAdd(relaySock, ['-D']).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((removeAll as { code: number }).code, 1, 'ssh-add -D fails')
  t.equal((await sshAdd(agent.socket, ['-l'])).stdout.trim().split('\n').length, 1, 'the agent still holds exactly its one key')

  const sshd = await startSshd(t, dir, agent.publicKey)
  t.match((await sshd.ssh(relaySock, [], 'echo signed-in')).stdout, 'signed-in', 'signing still works')
  t.match(log(), /refused SSH_AGENTC_ADD_IDENTITY \(-deny\)/)
  t.match(log(), /refused SSH_AGENTC_REMOVE_ALL_IDENTITIES \(-deny\)/)
})

t.test('-compat: OpenSSH 9 logs in through an agent that drops the connection on session-bind', BEHIND_SOCAT, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const oldSock = path.join(dir, 'old.sock')
  const seen = await sessionBindDropper(t, oldSock, agent.socket)
  const sshd = await startSshd(t, dir, agent.publicKey)

  const bytesSock = path.join(dir, 'bytes.sock')
  await socatListen(t, bytesSock, `${exe} uds-relay ${oldSock}`)
  const broken = await sshd.ssh(bytesSock, [], 'echo signed-in').catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((broken as { code: number }).code, 255, 'byte relay: ssh fails, as with the old agent itself')
  t.equal(seen.dropped, 1, 'the old agent saw session-bind and dropped the connection')

  const compatSock = path.join(dir, 'compat.sock')
  await socatListen(t, compatSock, `${exe} uds-relay -compat ${oldSock}`)
  t.match((await sshd.ssh(compatSock, [], 'echo signed-in')).stdout, 'signed-in', 'with -compat ssh logs in')
  t.equal(seen.dropped, 1, 'session-bind never reached the old agent')
})

t.test('--request-timeout with a frozen ssh-agent: FAILURE in agent mode, exit 6 in byte mode', needs(t, AGENT_TOOLS), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const request = encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)
  agent.process.kill('SIGSTOP')
  t.teardown(() => void agent.process.kill('SIGCONT'))

  const agentMode = startRelay(exe, ['uds-relay', '--agent', '--request-timeout', '1', agent.socket])
  agentMode.child.stdin.write(request)
  const frames: number[] = []
  const parser = new FrameParser()
  agentMode.child.stdout.on('data', (d: Buffer) => {
    for (const f of parser.push(d)) frames.push(f.type)
    if (frames.length === 1) agentMode.child.stdin.end()
  })
  const a = await agentMode.done
  t.same(frames, [AgentMessage.SSH_AGENT_FAILURE], 'the client got SSH_AGENT_FAILURE')
  t.equal(a.code, 6, 'and the session ended at its EOF with the timeout exit code')
  t.match(a.stderr, /SSH_AGENTC_REQUEST_IDENTITIES failed, answering SSH_AGENT_FAILURE: the agent did not answer within 1000 ms/)

  const byteMode = startRelay(exe, ['uds-relay', '--request-timeout', '1', agent.socket])
  byteMode.child.stdin.write(request)
  const b = await byteMode.done
  t.equal(b.code, 6, 'byte mode ends the connection with the timeout exit code')
  t.equal(b.stdout.length, 0)
  t.match(b.stderr, /no answer within 1 s \(--request-timeout\); ending the connection/)

  agent.process.kill('SIGCONT')
  t.match((await sshAdd(agent.socket, ['-l'])).stdout, agent.fingerprint, 'the agent itself is fine afterwards')
})

t.test('bad agent-mode flags: exit 2 with the fix, before touching the agent', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  // A live socket where the agent would be: a relay that dialled before
  // checking its flags would show up here as a connection.
  const sock = path.join(path.dirname(exe), 'agent.sock')
  let connections = 0
  const server = net.createServer((c) => {
    connections++
    c.destroy()
  })
  await new Promise<void>((r) => server.listen(sock, r))
  t.teardown(() => server.close())
  for (const args of [['-deny', 'everything', sock], ['--request-timeout', 'soon', sock]]) {
    const r = await run(exe, ['uds-relay', ...args]).catch((e: unknown) => e as { code: number; stderr: string })
    t.equal((r as { code: number }).code, 2, args.join(' '))
    t.match((r as { stderr: string }).stderr, /uds-relay: -(deny|request-timeout): .* \(see uds-relay -h\)/)
  }
  t.equal(connections, 0, 'the agent socket was never dialled')
  const good = await run(exe, ['uds-relay', '--request-timeout', '5', sock])
  t.equal(connections, 1, 'positive control: with valid flags the relay does dial it')
  t.equal(good.stdout, '', 'and the relay ended with the connection')
})
