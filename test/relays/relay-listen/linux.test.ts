/**
 * relay-listen on Linux with the built executable in front of a real
 * ssh-agent: what the shell-profile socat dance did, and what it could not.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { startListener } from '../../fixtures/listener.js'
import { run, sshAdd, startAgent, startSshd, waitFor } from '../../fixtures/openssh.js'

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', r)))

/** Processes whose command line mentions `marker`. */
async function processesWith(marker: string): Promise<string[]> {
  const r = await run('pgrep', ['-af', marker]).catch(() => ({ stdout: '' }))
  return r.stdout.split('\n').filter((l) => l.trim() && !l.includes('pgrep'))
}

for (const mode of ['in-process', 'spawn'] as const) {
  t.test(`${mode}: ssh-add, ssh login and ssh -A through relay-listen`, async (t) => {
    const exe = isolatedLinuxExecutable(t)
    const dir = path.dirname(exe)
    const agent = await startAgent(t, dir)
    const sock = path.join(dir, 'agent', 'relay.sock')
    const l = await startListener(t, exe, ['-v', ...(mode === 'spawn' ? ['--spawn'] : []), sock, '--', exe, 'uds-relay', agent.socket], { socket: sock })
    t.match(l.log(), `(${mode}:`)
    t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)
    t.equal((await sshAdd(sock, ['-L'])).stdout.trim(), agent.publicKey)
    const sshd = await startSshd(t, dir, agent.publicKey)
    t.match((await sshd.ssh(sock, ['-A'], 'ssh-add -l')).stdout, agent.fingerprint, 'login, and the forwarded agent lists the key')
  })
}

t.test('private socket in a private directory; stale socket replaced; second start exits 0; SIGTERM cleans up', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'new-dir', 'agent.sock')

  // A stale socket from a listener that died.
  fs.mkdirSync(path.dirname(sock), { mode: 0o700 })
  await run('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(sock)})`])
  t.ok(fs.lstatSync(sock).isSocket())

  const l = await startListener(t, exe, ['-v', sock, '--', 'uds-relay', agent.socket])
  await waitFor(() => l.log().includes('listening'), 'listener')
  t.match(l.log(), 'removing stale socket')
  t.equal(fs.statSync(sock).mode & 0o777, 0o600, 'socket 0600')
  t.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700, 'directory 0700')
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)

  const again = await startListener(t, exe, [sock, '--', 'uds-relay', agent.socket])
  t.equal(await exited(again), 0, 'a second listener on a served socket exits 0 quietly')
  t.equal(again.log(), '')

  l.kill('SIGTERM')
  t.equal(await exited(l), 0)
  t.notOk(fs.existsSync(sock), 'socket removed on SIGTERM')

  const file = path.join(dir, 'not-a-socket')
  fs.writeFileSync(file, 'keep me')
  const refused = await startListener(t, exe, [file, '--', 'uds-relay', agent.socket])
  t.equal(await exited(refused), 1)
  t.match(refused.log(), /exists and is not a socket; refusing to replace it/)
  t.equal(fs.readFileSync(file, 'utf8'), 'keep me')
})

t.test('--background detaches once listening and is idempotent', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'bg.sock')
  const first = await run(exe, ['relay-listen', '--background', sock, '--', 'uds-relay', agent.socket])
  t.equal(first.stderr, '')
  t.teardown(async () => {
    for (const line of await processesWith(sock)) process.kill(Number(line.split(' ')[0]), 'SIGTERM')
  })
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint, 'the detached listener serves')
  await run(exe, ['relay-listen', '--background', sock, '--', 'uds-relay', agent.socket])
  t.equal((await processesWith(sock)).length, 1, 'still one listener after starting it twice')
})

// Parallel load (64 x 200, every mode) is in test/robustness/load.test.ts.
t.test('both modes: 500 connections leave no process behind', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  for (const mode of ['in-process', 'spawn']) {
    const sock = path.join(dir, `${mode}.sock`)
    await startListener(t, exe, [...(mode === 'spawn' ? ['--spawn'] : []), '--max-connections', '16', sock, '--', exe, 'uds-relay', agent.socket], { socket: sock })

    const before = (await processesWith(`${exe} uds-relay`)).length
    for (let i = 0; i < 500; i++) {
      await new Promise<void>((resolve) => {
        const c = net.connect(sock, () => c.end())
        c.on('close', () => resolve())
        c.on('error', () => resolve())
      })
    }
    await waitFor(async () => (await processesWith(`${exe} uds-relay`)).length <= before, 'children to be reaped', 15_000).catch(() => {})
    t.equal((await processesWith(`${exe} uds-relay`)).length, before, `${mode}: relay processes back to ${before} after 500 connections`)
  }
})
