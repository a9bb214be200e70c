/**
 * relay-listen --mux with `relaykit mux uds-relay` in front of a real
 * ssh-agent: one relay process for every connection.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { agentClientLoad } from '../../fixtures/agent-load.js'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { startListener } from '../../fixtures/listener.js'
import { AGENT_TOOLS, SSHD_TOOLS, run, sshAdd, startAgent, startSshd, waitFor } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'

/** The built executable, an ssh-agent, and relay-listen --mux in front of it. */
async function muxInFrontOfAgent(t: Test) {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'mux.sock')
  const l = await startListener(t, exe, ['-v', sock, '--mux', '--', exe, 'mux', 'uds-relay', agent.socket], { socket: sock })
  return { dir, agent, sock, l }
}

const muxPid = (log: string) => [...log.matchAll(/mux process (\d+) ready/g)].map((m) => Number(m[1]))

t.test('ssh-add, ssh login and 64 x 200 parallel requests through one mux process', needs(t, [...AGENT_TOOLS, ...SSHD_TOOLS]), async (t) => {
  const { dir, agent, sock, l } = await muxInFrontOfAgent(t)
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)
  const sshd = await startSshd(t, dir, agent.publicKey)
  t.match((await sshd.ssh(sock, ['-A'], 'ssh-add -l')).stdout, agent.fingerprint, 'ssh login and forwarded agent')
  const load = await agentClientLoad(sock, { clients: 64, requestsPerClient: 200 })
  t.equal(load.failures, 0, load.errors.slice(0, 3).join('; '))
  t.equal(load.answered, 64 * 200)
  t.equal(muxPid(l.log()).length, 1, 'one mux process served every connection')
})

t.test('mux killed mid-load: its clients fail fast, the next connection restarts it', needs(t, AGENT_TOOLS), async (t) => {
  const { agent, sock, l } = await muxInFrontOfAgent(t)
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)
  const [first] = muxPid(l.log())
  const loading = agentClientLoad(sock, { clients: 16, requestsPerClient: 100_000, timeoutMs: 30_000 })
  await new Promise((r) => setTimeout(r, 300))
  const killedAt = Date.now()
  process.kill(first as number, 'SIGKILL')
  const result = await loading
  t.ok(result.failures > 0, 'the streams of the dead mux failed')
  t.ok(Date.now() - killedAt < 5000, `clients saw it at once (${Date.now() - killedAt} ms), no hang`)
  t.notOk(result.errors.some((e) => /timed out/.test(e)), 'no client waited for a timeout')
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint, 'a new connection works')
  await waitFor(() => muxPid(l.log()).length === 2, 'restart')
  t.not(muxPid(l.log())[1], first, 'on a new mux process')
  t.match(l.log(), /mux process \d+ exited/)
})

t.test('a mux that keeps dying young is restarted with growing backoff (100, 200, 400 ms), and the client is let go', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const starts = path.join(dir, 'starts')
  const sock = path.join(dir, 'mux.sock')
  // A "mux" that notes when it started and dies before saying hello.
  const l = await startListener(t, exe, ['-v', sock, '--mux', '--', '/bin/sh', '-c', `date +%s%N >> ${starts}; exit 3`], { socket: sock })
  const closed = await new Promise<{ data: number; error?: string }>((resolve) => {
    let data = 0
    const c = net.connect(sock)
    c.on('data', (d: Buffer) => (data += d.length))
    c.on('error', (e) => resolve({ data, error: e.message }))
    c.on('close', () => resolve({ data }))
  })
  t.equal(closed.data, 0, 'the client got nothing and was closed, not left waiting')
  const at = fs.readFileSync(starts, 'utf8').trim().split('\n').map((ns) => Number(BigInt(ns) / 1_000_000n))
  t.equal(at.length, 4, 'the connection tried the start and three restarts')
  const gaps = at.slice(1).map((ms, i) => ms - (at[i] as number))
  // Lower bounds only: a restart may come later than its backoff on a busy
  // machine, never sooner.
  t.ok(gaps.every((gap, i) => gap >= 100 * 2 ** i), `restarts ${gaps.join(', ')} ms apart: at least 100, 200, 400`)
  t.equal([...l.log().matchAll(/mux process \d+ exited \(3\)/g)].length, 4, 'each death logged with its exit code')
  t.match(l.log(), /no mux to serve the connection/)
  t.equal(l.exitCode, null, 'the listener itself goes on')
})

t.test('relaykit mux: bad relay names and garbage input', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const bad = await run(exe, ['mux', 'teleport']).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((bad as { code: number }).code, 2)
  t.match((bad as { stderr: string }).stderr, /"teleport" is not a relay mux can run/)
  const file = path.join(path.dirname(exe), 'garbage')
  fs.writeFileSync(file, Buffer.from([0xee, 0, 0, 0, 1, 0, 0, 0, 0]))
  const garbled = await run('sh', ['-c', `${exe} mux uds-relay /nonexistent < ${file}`]).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((garbled as { code: number }).code, 5)
  t.match((garbled as { stderr: string }).stderr, /mux framing lost: unknown mux frame type 238/)
})
