/**
 * relay-listen on Linux with the built executable in front of a real
 * ssh-agent: what the shell-profile socat dance did, and what it could not.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { needs } from '../../../lab/prerequisites.js'
import { agentClientLoad } from '../../fixtures/agent-load.js'
import { startListener } from '../../fixtures/listener.js'
import { AGENT_TOOLS, SSHD_TOOLS, run, sshAdd, startAgent, startSshd, waitFor } from '../../fixtures/openssh.js'
import { processesWithArgument, settledUsage, usage } from '../../fixtures/proc.js'

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', r)))
const permissions = (file: string) => fs.statSync(file).mode & 0o777
const AGENT = needs(t, AGENT_TOOLS)

for (const mode of ['in-process', 'spawn'] as const) {
  t.test(`${mode}: ssh-add, ssh login and ssh -A through relay-listen`, needs(t, [...AGENT_TOOLS, ...SSHD_TOOLS]), async (t) => {
    const exe = isolatedLinuxExecutable(t)
    const dir = path.dirname(exe)
    const agent = await startAgent(t, dir)
    const sock = path.join(dir, 'agent', 'relay.sock')
    const l = await startListener(t, exe, ['-v', ...(mode === 'spawn' ? ['--spawn'] : []), sock, '--', exe, 'uds-relay', agent.socket], { socket: sock })
    await waitFor(() => l.log().includes('listening on'), 'the listener to say it listens') // the file exists a moment before
    t.match(l.log(), `(${mode}:`)
    t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)
    t.equal((await sshAdd(sock, ['-L'])).stdout.trim(), agent.publicKey)
    const sshd = await startSshd(t, dir, agent.publicKey)
    t.match((await sshd.ssh(sock, ['-A'], 'ssh-add -l')).stdout, agent.fingerprint, 'login, and the forwarded agent lists the key')
  })
}

t.test('private socket in the private directories it creates; second start exits 0; SIGTERM cleans up; stale socket replaced', needs(t, [...AGENT_TOOLS, 'python3']), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const created = path.join(dir, 'new-dir')
  const sock = path.join(created, 'sub', 'agent.sock')

  // umask 0: the modes below are the ones relay-listen asks for, not ones a
  // umask would have taken away.
  const l = await startListener(t, exe, ['-v', sock, '--', 'uds-relay', agent.socket], { umask: 0 })
  await waitFor(() => l.log().includes('listening'), 'listener')
  t.equal(permissions(created), 0o700, 'the directory relay-listen created: 0700')
  t.equal(permissions(path.dirname(sock)), 0o700, 'and the one inside it: 0700')
  t.equal(permissions(sock), 0o600, 'socket 0600')
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)

  const again = await startListener(t, exe, [sock, '--', 'uds-relay', agent.socket])
  t.equal(await exited(again), 0, 'a second listener on a served socket exits 0 quietly')
  t.equal(again.log(), '')

  l.kill('SIGTERM')
  t.equal(await exited(l), 0)
  t.notOk(fs.existsSync(sock), 'socket removed on SIGTERM')

  // A stale socket from a listener that died.
  await run('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(sock)})`])
  t.ok(fs.lstatSync(sock).isSocket())
  const replacing = await startListener(t, exe, ['-v', sock, '--', 'uds-relay', agent.socket], { umask: 0 })
  await waitFor(() => replacing.log().includes('listening'), 'listener')
  t.match(replacing.log(), 'removing stale socket')
  t.equal(permissions(sock), 0o600, 'the new socket: 0600')
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)

  const file = path.join(dir, 'not-a-socket')
  fs.writeFileSync(file, 'keep me')
  const refused = await startListener(t, exe, [file, '--', 'uds-relay', agent.socket])
  t.equal(await exited(refused), 1)
  t.match(refused.log(), /exists and is not a socket; refusing to replace it/)
  t.equal(fs.readFileSync(file, 'utf8'), 'keep me')
})

t.test('--background detaches once listening and is idempotent', AGENT, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'bg.sock')
  const first = await run(exe, ['relay-listen', '--background', sock, '--', 'uds-relay', agent.socket])
  t.equal(first.stderr, '')
  // The socket path is unique to this test: whatever has it as an argument is ours.
  t.teardown(() => {
    for (const pid of processesWithArgument(sock)) process.kill(pid, 'SIGTERM')
  })
  const listeners = processesWithArgument(sock)
  t.equal(listeners.length, 1, 'one detached listener runs')
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint, 'the detached listener serves')
  await run(exe, ['relay-listen', '--background', sock, '--', 'uds-relay', agent.socket])
  t.same(processesWithArgument(sock), listeners, 'still that one listener after starting it twice')
})

// Parallel load (64 x 200, every mode) is in test/robustness/load.test.ts.
t.test('both modes: 500 connections served, each relay ends with exit 0, no process or descriptor left behind', AGENT, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  for (const mode of ['in-process', 'spawn']) {
    const sock = path.join(dir, `${mode}.sock`)
    const flags = mode === 'spawn' ? ['--spawn'] : []
    const listener = await startListener(t, exe, ['-v', ...flags, '--max-connections', '16', sock, '--', exe, 'uds-relay', agent.socket], { socket: sock })
    const pid = listener.pid as number
    const before = usage(pid)

    // Every connection asks for the identities and must get them: a
    // connection that was accepted but never relayed does not count.
    const load = await agentClientLoad(sock, { clients: 500, requestsPerClient: 1 })
    t.equal(load.answered, 500, `${mode}: 500 connections answered (${load.errors.slice(0, 3).join('; ')})`)
    // spawn: each relay is a child of the listener; in-process: there must never be one.
    await waitFor(() => (listener.log().match(/ended with exit code|child \d+ exited/g) ?? []).length >= 500, 'every relay to end', 30_000).catch(() => {})
    const ends = [...listener.log().matchAll(/uds-relay ended with exit code (\d+)|child \d+ exited \((\w+)\)/g)].map((m) => m[1] ?? m[2])
    t.equal(ends.length, 500, `${mode}: the listener saw 500 relays end`)
    t.same([...new Set(ends)], ['0'], `${mode}: every one with exit code 0`)
    const after = await settledUsage(pid, before)
    t.equal(after.children, 0, `${mode}: no relay process left (children of the listener: ${after.children})`)
    t.ok(after.fds <= before.fds, `${mode}: listener descriptors back to ${before.fds} (now ${after.fds})`)
  }
})
