/**
 * relay-listen's start-up and shutdown with the built executable on Linux:
 * every way an address can be unusable ends at once with a message naming
 * the path and the reason and a documented exit code (never a silent hang:
 * /proc/x/y.sock used to spin forever in Node's recursive mkdir);
 * --background comes up on every address kind (a Cygwin socket file used
 * to time out: its readiness was probed as a Unix socket); SIGTERM leaves
 * no file behind on any kind (the Cygwin file used to stay).
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { connectCygwin } from '../../../shared/channels/cygwin/client.js'
import { formatCygwinSocketFile } from '../../../shared/channels/cygwin/format.js'
import { waitFor } from '../../fixtures/openssh.js'

/** Generous bound for "ends at once": a hang shows, a loaded CI machine does not trip it. Measured times are printed. */
const AT_ONCE_MS = 3000

interface Ended {
  code: number | null
  stderr: string
  ms: number
}

function runExe(exe: string, args: string[], opts: { uid?: number } = {}): Ended {
  const start = process.hrtime.bigint()
  const r = spawnSync(exe, ['relay-listen', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
  })
  return { code: r.status, stderr: r.stderr, ms: Number(process.hrtime.bigint() - start) / 1e6 }
}

function expectFailure(t: Test, what: string, r: Ended, code: number, message: RegExp) {
  t.equal(r.code, code, `${what}: exit ${code}`)
  t.match(r.stderr, message, `${what}: says why`)
  t.ok(r.ms < AT_ONCE_MS, `${what}: ended in ${r.ms.toFixed(0)} ms`)
  t.comment(`${what} | ${r.stderr.trim().replace(/\n/g, ' ')} | exit ${r.code} | ${r.ms.toFixed(0)} ms`)
}

t.test('every unusable address ends at once with a message and an exit code', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const cmd = ['--', 'cat']
  fs.writeFileSync(path.join(dir, 'a-file'), '')
  fs.mkdirSync(path.join(dir, 'a-dir'))

  expectFailure(t, 'directory cannot be created (/proc)', runExe(exe, ['/proc/x/y.sock', ...cmd]), 1, /cannot listen on \/proc\/x\/y\.sock: cannot create the directory \/proc\/x \(ENOENT/)
  expectFailure(t, 'parent is a file', runExe(exe, [path.join(dir, 'a-file', 'y.sock'), ...cmd]), 1, /a-file is not a directory/)
  expectFailure(t, 'the name is a directory', runExe(exe, [path.join(dir, 'a-dir'), ...cmd]), 1, /it is a directory; name a socket inside it/)
  expectFailure(t, 'a regular file is there', runExe(exe, [path.join(dir, 'a-file'), ...cmd]), 1, /exists and is not a socket; refusing to replace it/)
  const long = path.join(dir, 'x'.repeat(120))
  expectFailure(t, 'path too long for sun_path', runExe(exe, [long, ...cmd]), 2, new RegExp(`the path is ${Buffer.byteLength(long)} bytes, and a Unix socket path holds at most 107`))
  expectFailure(t, '--cygwin, parent is a file', runExe(exe, ['--cygwin', path.join(dir, 'a-file', 's'), ...cmd]), 1, /a-file is not a directory/)
  expectFailure(t, 'a named pipe on Linux', runExe(exe, ['//./pipe/x', ...cmd]), 2, /is a Windows named pipe: run relaykit\.exe on Windows/)
  expectFailure(t, 'log file cannot be opened', runExe(exe, ['--logfile', path.join(dir, 'a-file', 'log'), path.join(dir, 's'), ...cmd]), 1, /cannot open the log file .*a-file\/log/)
  expectFailure(t, '--background, and the listener fails', runExe(exe, ['--background', '/proc/x/y.sock', ...cmd]), 1, /cannot create the directory \/proc\/x/)

  if (process.getuid?.() === 0) {
    // Permissions bind only a user that is not root: run as nobody in a directory root owns.
    fs.chmodSync(dir, 0o755)
    fs.mkdirSync(path.join(dir, 'root-only'), { mode: 0o755 })
    const nobody = 65534
    expectFailure(t, 'no permission to create the directory', runExe(exe, [path.join(dir, 'root-only', 'sub', 's'), ...cmd], { uid: nobody }), 1, /cannot create the directory .*root-only\/sub \(EACCES: permission denied\)/)
    expectFailure(t, 'no permission to bind', runExe(exe, [path.join(dir, 'root-only', 's'), ...cmd], { uid: nobody }), 1, /cannot listen on .*root-only\/s: EACCES: permission denied/)
    expectFailure(t, '--cygwin, no permission to write the file', runExe(exe, ['--cygwin', path.join(dir, 'root-only', 's'), ...cmd], { uid: nobody }), 1, /cannot create .*root-only\/s: EACCES: permission denied/)
  } else {
    const locked = path.join(dir, 'locked')
    fs.mkdirSync(locked, { mode: 0o500 })
    expectFailure(t, 'no permission to bind', runExe(exe, [path.join(locked, 's'), ...cmd]), 1, /EACCES: permission denied/)
  }
})

t.test('usage errors name only what is wrong, and how to write it', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const sock = path.join(path.dirname(exe), 's')
  const none = runExe(exe, [sock])
  t.equal(none.code, 2)
  t.match(none.stderr, `no command to run per connection: put it after --, e.g. relay-listen ${sock} -- uds-relay /path/to/agent.sock (see relay-listen -h)`)
  t.notMatch(none.stderr, /max-connections/, 'nothing about a flag that was not used')
  const bad = runExe(exe, ['--max-connections', '0', sock, '--', 'cat'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /-max-connections: "0" is not a whole number of at least 1 \(see relay-listen -h\)/)
  t.notMatch(bad.stderr, /command/, 'nothing about the command, which is there')
  t.equal(runExe(exe, ['--max-connections', '2x', sock, '--', 'cat']).code, 2, '"2x" is not a number either')
})

/** The kinds of address relay-listen serves on Linux, each with its own client's view of "served". */
const kinds = {
  unix: { flags: [] as string[], served: (p: string) => fs.existsSync(p) && fs.lstatSync(p).isSocket() },
  cygwin: { flags: ['--cygwin'], served: (p: string) => fs.existsSync(p) },
}

for (const [name, kind] of Object.entries(kinds)) {
  t.test(`${name}: --background comes up at once; SIGTERM removes the address`, async (t) => {
    const exe = isolatedLinuxExecutable(t)
    const address = path.join(path.dirname(exe), 'bg', 's')
    const bg = runExe(exe, ['-v', '--background', ...kind.flags, address, '--', 'cat'])
    t.equal(bg.code, 0, `--background exits 0 (${bg.stderr.trim()})`)
    t.ok(bg.ms < AT_ONCE_MS, `and returns in ${bg.ms.toFixed(0)} ms`)
    const pid = Number(/in the background as pid (\d+)/.exec(bg.stderr)?.[1])
    t.ok(pid > 0, 'it names the pid')
    t.teardown(() => void (isRunning(pid) && process.kill(pid, 'SIGKILL')))
    t.ok(kind.served(address), 'the address is there')
    if (name === 'cygwin') (await connectCygwin(address, { variant: 'cygwin' })).destroy() // the handshake answers: it is really served

    const again = runExe(exe, ['--background', ...kind.flags, address, '--', 'cat'])
    t.same([again.code, again.stderr], [0, ''], 'a second --background finds it served and exits 0 quietly')

    process.kill(pid, 'SIGTERM')
    await waitFor(() => !isRunning(pid), 'the listener to exit')
    t.notOk(fs.existsSync(address), 'SIGTERM: no file left behind')
  })

  t.test(`${name}: foreground, SIGTERM and SIGINT remove the address and exit 0`, async (t) => {
    const exe = isolatedLinuxExecutable(t)
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const address = path.join(path.dirname(exe), `fg-${signal}`)
      const child = spawn(exe, ['relay-listen', ...kind.flags, address, '--', 'cat'], { stdio: 'ignore' })
      await waitFor(() => kind.served(address), 'listener')
      const exit = new Promise<number | null>((r) => child.once('exit', r))
      child.kill(signal)
      t.equal(await exit, 0, `${signal}: exit 0`)
      t.notOk(fs.existsSync(address), `${signal}: no file left behind`)
    }
  })
}

t.test('cygwin: a stale socket file is replaced like a stale Unix socket', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const file = path.join(path.dirname(exe), 'stale')
  fs.writeFileSync(file, formatCygwinSocketFile(1, randomBytes(16))) // port 1: a listener that died
  const r = runExe(exe, ['-v', '--background', '--cygwin', file, '--', 'cat'])
  t.equal(r.code, 0, r.stderr)
  const pid = Number(/pid (\d+)/.exec(r.stderr)?.[1])
  t.teardown(() => void (isRunning(pid) && process.kill(pid, 'SIGTERM')))
  t.notMatch(fs.readFileSync(file, 'latin1'), /^!<socket >1 s /, 'the file names a new port')
  ;(await connectCygwin(file, { variant: 'cygwin' })).destroy()
  t.pass('the new listener answers the handshake')
})

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
