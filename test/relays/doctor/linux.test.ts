/**
 * doctor on Linux for real: a live ssh-agent with a key, and each way
 * SSH_AUTH_SOCK goes wrong, through main() and through the built executable.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { main } from '../../../relays/doctor/main.js'
import type { DoctorReport } from '../../../shared/doctor/report.js'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { memoryIo } from '../../fixtures/memory-io.js'
import { AGENT_TOOLS, run, spawnDaemon, startAgent, waitFor } from '../../fixtures/openssh.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { needs } from '../../../lab/prerequisites.js'

/** This machine must not look like WSL, or the rows differ. */
const wsl = /microsoft/i.test(fs.readFileSync('/proc/version', 'utf8'))
const AGENT = needs(t, AGENT_TOOLS)
/** A live agent's rows on this machine: not on WSL, and only with OpenSSH's agent installed. */
const LIVE_AGENT = { skip: wsl ? 'this machine is WSL' : AGENT.skip }

async function doctor(env: NodeJS.ProcessEnv, args: string[] = ['--json']) {
  const m = memoryIo(env)
  const code = await main(args, m.io)
  return { code, out: m.stdout().toString(), err: m.stderr() }
}

function sockRow(report: DoctorReport) {
  return report.checks.find((c) => c.name === 'SSH_AUTH_SOCK')
}

t.test('a live ssh-agent with one key: ok, 1 key, exit 0', LIVE_AGENT, async (t) => {
  const agent = await startAgent(t, shortTempDir(t))
  const { code, out, err } = await doctor({ SSH_AUTH_SOCK: agent.socket })
  t.equal(code, 0)
  t.equal(err, '', 'nothing on stderr')
  const report = JSON.parse(out) as DoctorReport
  t.same(report.checks.length, 1, 'Linux: one row')
  t.match(sockRow(report), { status: 'ok', usableAgent: true, detail: `${agent.socket}: the agent answers, 1 key` })
  t.equal(report.usableAgent, true)
  t.equal(report.exitCode, 0)
  t.notMatch(out, agent.publicKey.split(' ')[1] as string, 'no key material')
  t.notMatch(out, 'relaykit-test', 'no key comment')

  const table = await doctor({ SSH_AUTH_SOCK: agent.socket }, [])
  t.equal(table.code, 0)
  t.match(table.out, /SSH_AUTH_SOCK\s+ok\s+.*1 key/)
  t.match(table.out, /At least one agent answers/)
})

t.test('an agent with no keys: warn with the ssh-add fix, still exit 0', AGENT, async (t) => {
  const agent = await startAgent(t, shortTempDir(t))
  await run('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: agent.socket } })
  const { code, out } = await doctor({ SSH_AUTH_SOCK: agent.socket })
  t.equal(code, 0)
  t.match(sockRow(JSON.parse(out) as DoctorReport), { status: 'warn', usableAgent: true, fix: /ssh-add/ })
})

t.test('SSH_AUTH_SOCK unset: fail, the fix, exit 3', async (t) => {
  const { code, out } = await doctor({})
  t.equal(code, 3)
  const report = JSON.parse(out) as DoctorReport
  t.match(sockRow(report), { status: 'fail', detail: /not set/, fix: /ssh-agent -s/ })
  t.equal(report.usableAgent, false)
  const table = await doctor({}, [])
  t.match(table.out, /SSH_AUTH_SOCK\s+FAIL\s+not set/)
  t.match(table.out, /fix: start an agent/)
  t.match(table.out, /exit 3/)
})

t.test('SSH_AUTH_SOCK names nothing: fail, exit 3', async (t) => {
  const missing = path.join(shortTempDir(t), 'gone.sock')
  const { code, out } = await doctor({ SSH_AUTH_SOCK: missing })
  t.equal(code, 3)
  t.match(sockRow(JSON.parse(out) as DoctorReport), { status: 'fail', detail: /no such socket/, fix: /ssh-agent/ })
})

t.test('a dead socket (its agent was killed): fail as stale, exit 3', AGENT, async (t) => {
  const sock = path.join(shortTempDir(t), 'dead.sock')
  const agent = spawnDaemon(t, 'ssh-agent', ['-D', '-a', sock])
  await waitFor(() => fs.existsSync(sock), 'ssh-agent socket')
  agent.kill('SIGKILL')
  await new Promise((r) => agent.once('exit', r))
  t.ok(fs.statSync(sock).isSocket(), 'the socket file is left behind')
  const { code, out } = await doctor({ SSH_AUTH_SOCK: sock })
  t.equal(code, 3)
  t.match(sockRow(JSON.parse(out) as DoctorReport), { status: 'fail', detail: /nobody is listening/, fix: /stale socket/ })
})

t.test('a regular file and a directory: fail, not a socket, exit 3', async (t) => {
  const dir = shortTempDir(t)
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, 'not a socket')
  for (const [p, kind] of [[file, 'file'], [dir, 'directory']] as const) {
    const { code, out } = await doctor({ SSH_AUTH_SOCK: p })
    t.equal(code, 3, kind)
    t.match(sockRow(JSON.parse(out) as DoctorReport), { status: 'fail', detail: `is a ${kind}, not a socket`, fix: /point SSH_AUTH_SOCK at the agent's socket/ })
  }
})

t.test('a socket whose listener never answers: fail after --timeout', async (t) => {
  const sock = path.join(shortTempDir(t), 'mute.sock')
  const held: net.Socket[] = []
  const srv = net.createServer((c) => held.push(c))
  await new Promise<void>((r) => srv.listen(sock, r))
  t.teardown(() => {
    held.forEach((c) => c.destroy())
    srv.close()
  })
  const started = Date.now()
  const { code, out } = await doctor({ SSH_AUTH_SOCK: sock }, ['--json', '--timeout', '0.3'])
  t.equal(code, 3)
  t.ok(Date.now() - started < 3000, 'does not wait long')
  t.match(sockRow(JSON.parse(out) as DoctorReport), { status: 'fail', detail: /no answer within 300 ms/, fix: /no agent answered/ })
})

t.test('bad flags: usage on stderr, exit 2', async (t) => {
  for (const args of [['--timeout', '0'], ['--nope'], ['extra']]) {
    const { code, out } = await doctor({}, args)
    t.equal(code, 2, args.join(' '))
    t.equal(out, '', 'nothing on stdout')
  }
})

t.test('the built executable: relaykit doctor --json', LIVE_AGENT, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const agent = await startAgent(t, shortTempDir(t))
  const ok = await run(exe, ['doctor', '--json'], { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: agent.socket } })
  const report = JSON.parse(ok.stdout) as DoctorReport
  t.match(sockRow(report), { status: 'ok', detail: /1 key$/ })
  t.equal(report.exitCode, 0)
  const failed = await run(exe, ['doctor'], { env: { PATH: process.env.PATH } }).catch((e: { code: number; stdout: string }) => e)
  t.equal((failed as { code: number }).code, 3, 'exit 3 without an agent')
  t.match((failed as { stdout: string }).stdout, /SSH_AUTH_SOCK\s+FAIL/)
  const help = await run(exe, ['--help'])
  t.match(help.stdout, /doctor\s+not a relay/, 'listed by relaykit --help')
})
