/**
 * relay-listen started by socket activation: the real
 * `systemd-socket-activate` binds the socket and hands it over, the built
 * executable serves it to a real ssh-agent.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { needs } from '../../../lab/prerequisites.js'
import { AGENT_TOOLS, spawnDaemon, sshAdd, startAgent, waitFor } from '../../fixtures/openssh.js'

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', r)))
const TOOLS = [...AGENT_TOOLS, 'systemd-socket-activate']

function activate(t: Parameters<typeof spawnDaemon>[0], sock: string, command: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawnDaemon(t, 'systemd-socket-activate', ['-l', sock, ...(env.NAME ? ['--fdname', env.NAME] : []), ...command], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH, ...env },
  })
  let log = ''
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  return Object.assign(child, { log: () => log })
}

/** Everything a connection to `sock` receives until the other side closes. */
function readAll(sock: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = ''
    net.connect(sock).on('data', (d) => (out += d.toString())).on('end', () => resolve(out)).on('error', reject)
  })
}

t.test('systemd-socket-activate hands the socket over: ssh-add -l answered on the first connection, the file left to systemd', needs(t, TOOLS), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'activated.sock')
  const l = activate(t, sock, [exe, 'relay-listen', '-v', sock, '--', 'uds-relay', agent.socket], { NAME: 'agent' })
  await waitFor(() => fs.existsSync(sock), 'systemd-socket-activate to bind')
  const bound = fs.lstatSync(sock).ino
  t.notMatch(l.log(), 'Execing', 'relay-listen starts only on the first connection')
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint, 'the first connection is served')
  t.match(l.log(), `serving ${sock} from systemd (fd 3, agent)`)
  t.equal(fs.lstatSync(sock).ino, bound, 'the very socket systemd bound: relay-listen made none of its own')
  l.kill('SIGTERM')
  t.equal(await exited(l), 0)
  t.ok(fs.lstatSync(sock).isSocket(), 'the socket is systemd\'s: not unlinked on exit')
})

t.test('commands started per connection see no LISTEN_ variables, and do not hold the listening socket', needs(t, TOOLS), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const sock = path.join(path.dirname(exe), 'env.sock')
  activate(t, sock, [exe, 'relay-listen', '--spawn', sock, '--', '/bin/sh', '-c', 'env; echo FDS; ls /proc/$$/fd'])
  await waitFor(() => fs.existsSync(sock), 'systemd-socket-activate to bind')
  const [env, fds] = (await readAll(sock)).split('FDS\n') as [string, string]
  t.match(env, /^PATH=/m, 'the command ran and printed its environment')
  t.notMatch(env, /^LISTEN_/m)
  t.same(fds.split('\n').filter(Boolean), ['0', '1', '2'], 'only its stdio: the socket systemd handed over (fd 3) is not inherited')
})

t.test('LISTEN_ variables meant for another pid are ignored: relay-listen binds its own socket', needs(t, TOOLS), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'own.sock')
  const l = spawnDaemon(t, exe, ['relay-listen', '-v', sock, '--', 'uds-relay', agent.socket], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH, LISTEN_PID: '1', LISTEN_FDS: '1' },
  })
  let log = ''
  l.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  await waitFor(() => log.includes('listening on'), 'relay-listen to bind its own socket')
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint)
  l.kill('SIGTERM')
  t.equal(await exited(l), 0)
  t.notOk(fs.existsSync(sock), 'its own socket it removes')
})
