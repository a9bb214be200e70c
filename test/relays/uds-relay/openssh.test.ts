/**
 * uds-relay against real OpenSSH: the built linux-x64 executable behind
 * socat, in front of ssh-agent, used by ssh-add and by an ssh login with
 * agent forwarding.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { AGENT_TOOLS, SSHD_TOOLS, run, socatListen, sshAdd, startAgent, startSshd } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'

t.test('ssh-add and ssh through socat + uds-relay (built executable)', needs(t, [...AGENT_TOOLS, ...SSHD_TOOLS, 'socat']), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const relaySock = path.join(dir, 'relay.sock')
  await socatListen(t, relaySock, `${exe} uds-relay ${agent.socket}`)

  const listed = await sshAdd(relaySock, ['-l'])
  t.match(listed.stdout, agent.fingerprint, 'ssh-add -l lists the key through the relay')
  const publicKeys = await sshAdd(relaySock, ['-L'])
  t.equal(publicKeys.stdout.trim(), agent.publicKey, 'ssh-add -L gives the public key byte for byte')

  const second = path.join(dir, 'second')
  await run('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-C', 'second', '-f', second])
  await sshAdd(relaySock, ['-q', second])
  t.equal((await sshAdd(agent.socket, ['-l'])).stdout.trim().split('\n').length, 2, 'key added through the relay')
  await sshAdd(relaySock, ['-q', '-d', `${second}.pub`])
  t.equal((await sshAdd(agent.socket, ['-l'])).stdout.trim().split('\n').length, 1, 'key removed through the relay')

  const sshd = await startSshd(t, dir, agent.publicKey)
  const login = await sshd.ssh(relaySock, ['-A'], 'ssh-add -l')
  t.match(login.stdout, agent.fingerprint, 'ssh logs in with the relayed key and the forwarded agent lists it')
})

t.test('a hard link named uds-relay runs the relay directly', needs(t, [...AGENT_TOOLS, 'socat']), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const link = path.join(dir, 'uds-relay')
  fs.linkSync(exe, link)
  const relaySock = path.join(dir, 'relay.sock')
  await socatListen(t, relaySock, `${link} ${agent.socket}`)
  t.match((await sshAdd(relaySock, ['-l'])).stdout, agent.fingerprint)
})

t.test('errors name the fix and use the documented exit codes', needs(t, ['python3']), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const missing = await run(exe, ['uds-relay', path.join(dir, 'nope.sock')]).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((missing as { code: number }).code, 3)
  t.match((missing as { stderr: string }).stderr, /no socket at .*nope\.sock: is the agent running/)

  const stale = path.join(dir, 'stale.sock')
  const { execFileSync } = await import('node:child_process')
  // A socket file whose listener is gone: the classic leftover of a dead agent.
  execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(stale)})`])
  const refused = await run(exe, ['uds-relay', stale]).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((refused as { code: number }).code, 3)
  t.match((refused as { stderr: string }).stderr, /stale socket/)

  const bad = await run(exe, ['uds-relay', '-nope', 'x']).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((bad as { code: number }).code, 2)
  t.match((bad as { stderr: string }).stderr, /flag provided but not defined: -nope/)
})
