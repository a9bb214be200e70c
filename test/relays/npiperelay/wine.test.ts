/**
 * npiperelay for real: the built relaykit-win-x64.exe under Wine, against
 * libuv and message-mode pipe servers, Pageant's pipe, and socat + OpenSSH
 * on the Linux side.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { builtExecutable, repoRoot } from '../../../lab/built.js'
import { SSHD_TOOLS, sshAdd, run, startSshd, waitFor } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'
import { agentClientLoad } from '../../fixtures/agent-load.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { startWineRelay, wineSocat } from '../../fixtures/wine-relay.js'
import {
  type LabEnv,
  ensureWineServer,
  labWineProcesses,
  requireLab,
  spawnWine,
  startMsgPipeServer,
  startPageant,
  uniquePipeName,
  winPath,
} from '../../../lab/winlab.js'

const forward = (pipe: string) => pipe.replace(/\\/g, '/')

/** A libuv (node.exe) pipe server under Wine; resolves once it listens. */
async function pipeServer(t: Test, lab: LabEnv, mode: string, env: Record<string, string> = {}) {
  const pipe = uniquePipeName('npr')
  const child = spawnWine(lab, lab.nodeExe, [winPath(path.join(repoRoot, 'lab', 'fixtures', 'echo-pipe-server.cjs'))], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PIPE: pipe, MODE: mode, ...env },
    t,
  })
  const lines: string[] = []
  child.stdout?.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)))
  await waitFor(() => lines.includes('ready'), 'pipe server', 30_000)
  return { pipe, lines }
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  t.test('byte-exact 1 MiB and 64 MiB; pipe EOF ends the relay with exit 0', async (t) => {
    for (const size of [1 << 20, 64 << 20]) {
      const srv = await pipeServer(t, lab, 'echo-total', { TOTAL: String(size) })
      const data = randomBytes(size)
      const r = startWineRelay(t, lab, ['npiperelay', forward(srv.pipe)])
      r.child.stdin?.end(data)
      const { code, stdout, stderr } = await r.done
      t.equal(code, 0, `exit 0 (${stderr})`)
      t.equal(stdout.length, size, `${size} bytes back`)
      t.equal(createHash('sha256').update(stdout).digest('hex'), createHash('sha256').update(data).digest('hex'), 'identical bytes')
    }
  })

  t.test('-ei: exit 0 at stdin EOF when nothing is outstanding, although the pipe stays open', async (t) => {
    const srv = await pipeServer(t, lab, 'echo')
    const r = startWineRelay(t, lab, ['npiperelay', '-ei', forward(srv.pipe)])
    r.child.stdin?.write('hello')
    await new Promise((res) => r.child.stdout?.once('data', res)) // the answer arrived: nothing outstanding
    r.child.stdin?.end()
    const { code, stdout } = await r.done
    t.equal(code, 0)
    t.equal(stdout.toString(), 'hello')
  })

  t.test('-ei delivers the answer to a request sent together with EOF (npiperelay.exe loses it)', async (t) => {
    const srv = await pipeServer(t, lab, 'echo')
    const r = startWineRelay(t, lab, ['npiperelay', '-ei', forward(srv.pipe)])
    r.child.stdin?.end('request+EOF')
    const { code, stdout } = await r.done
    t.equal(code, 0)
    t.equal(stdout.toString(), 'request+EOF')
  })

  t.test('-ep: exit 0 when the server closes, while stdin is still open', async (t) => {
    const srv = await pipeServer(t, lab, 'reply-close')
    const r = startWineRelay(t, lab, ['npiperelay', '-ep', forward(srv.pipe)])
    r.child.stdin?.write('ping') // and never end stdin
    const { code, stdout } = await r.done
    t.equal(code, 0)
    t.equal(stdout.toString(), 'pong:ping')
  })

  t.test('neither flag: a server that never closes does not leave the relay behind', async (t) => {
    const srv = await pipeServer(t, lab, 'echo')
    const r = startWineRelay(t, lab, ['npiperelay', '-v', forward(srv.pipe)])
    r.child.stdin?.end('x')
    const { code, stdout, stderr } = await r.done
    t.equal(code, 0)
    t.equal(stdout.toString(), 'x')
    t.match(stderr, /quiet for 2000 ms after stdin EOF/)
  })

  t.test('-s: the message-mode server sees the zero-length message', async (t) => {
    const srv = await startMsgPipeServer(lab, uniquePipeName('msg'), { t })
    const r = startWineRelay(t, lab, ['npiperelay', '-s', '-ei', forward(srv.pipeName)])
    r.child.stdin?.end('abc')
    const { code, stdout } = await r.done
    t.equal(code, 0)
    await srv.waitFor('zero', 10_000)
    t.ok(srv.lines.includes('msg 3'), `server got the data first (${srv.lines.join(', ')})`)
    t.match(stdout.toString(), /^abc/, 'the echo of the data arrived')
  })

  t.test('-ep -s together (the Docker recipe): the data, then the zero-length message, its answer back; exit 0 when the server closes, not before', async (t) => {
    const srv = await startMsgPipeServer(lab, uniquePipeName('docker'), { t })
    const r = startWineRelay(t, lab, ['npiperelay', '-ep', '-s', forward(srv.pipeName)])
    let got = ''
    r.child.stdout?.on('data', (d: Buffer) => (got += d.toString()))
    r.child.stdin?.end('GET /_ping')
    const zero = await srv.waitFor('zero', 20_000)
    t.equal(srv.lines.indexOf('msg 10'), zero - 1, `the 10 bytes, then the zero-length message (${srv.lines.join(', ')})`)
    await waitFor(() => got === 'GET /_pingZERO', 'the echo and the answer to the zero-length message', 10_000)
    // The server keeps the pipe open: without -ep the relay would end after
    // 2 s of quiet (see 'neither flag' above); with it, it waits for EOF.
    await new Promise((res) => setTimeout(res, 3000))
    t.equal(r.child.exitCode, null, 'still relaying 3 s later: -ep waits for the server to close')
    await srv.stop()
    const { code, stdout, stderr } = await r.done
    t.equal(code, 0, `exit 0 once the server closed (${stderr})`)
    t.equal(stdout.toString(), 'GET /_pingZERO', 'nothing lost, nothing added')
  })

  t.test('missing pipe: npiperelay.exe\'s message and exit 1; -p waits for it', async (t) => {
    const missing = uniquePipeName('missing')
    const r = startWineRelay(t, lab, ['npiperelay', forward(missing)])
    r.child.stdin?.end()
    const { code, stderr } = await r.done
    t.equal(code, 1)
    t.match(stderr, `open ${forward(missing)}: The system cannot find the file specified.`)

    const later = uniquePipeName('later')
    const p = startWineRelay(t, lab, ['npiperelay', '-p', '-ei', forward(later)])
    await new Promise((res) => setTimeout(res, 1500))
    t.equal(p.child.exitCode, null, 'still polling')
    const srv = await startMsgPipeServer(lab, later, { t })
    p.child.stdin?.end('late')
    const done = await p.done
    t.equal(done.code, 0)
    t.equal(done.stdout.toString(), 'late')
    t.ok(srv.lines.includes('msg 4'))
  })

  t.test('busy pipe: waited for, then served', async (t) => {
    const srv = await startMsgPipeServer(lab, uniquePipeName('busy'), { busyHoldMs: 2500, t })
    // The first client takes the only instance and is held. A plain client: npiperelay's own
    // owner check would be the connection held, and npiperelay itself then served for good.
    const holder = startWineRelay(t, lab, ['-e', "require('node:net').connect(process.env.HOLD_PIPE); setInterval(() => {}, 1000)"], { exe: lab.nodeExe, env: { HOLD_PIPE: srv.pipeName } })
    await srv.waitFor('connected', 20_000)
    const started = Date.now()
    const r = startWineRelay(t, lab, ['npiperelay', '-p', '-ei', forward(srv.pipeName)])
    r.child.stdin?.end('after-busy')
    const { code, stdout, stderr } = await r.done
    t.equal(code, 0, stderr)
    t.equal(stdout.toString(), 'after-busy')
    t.ok(Date.now() - started > 1000, 'it had to wait for the instance')
    holder.child.kill()
  })

  t.test('-a: libassuan socket file: the nonce first, then the data; malformed file is exit 1', async (t) => {
    const dir = shortTempDir(t)
    const net = await import('node:net')
    const nonce = randomBytes(16)
    const got: Buffer[] = []
    const server = net.createServer((c) => {
      c.on('data', (d: Buffer) => {
        got.push(d)
        const all = Buffer.concat(got)
        if (all.length >= 16 + 4) c.end(all.subarray(16))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    t.teardown(() => server.close())
    const file = path.join(dir, 'S.gpg-agent')
    fs.writeFileSync(file, Buffer.concat([Buffer.from(`${(server.address() as { port: number }).port}\n`), nonce]))
    const r = startWineRelay(t, lab, ['npiperelay', '-ei', '-ep', '-a', winPath(file).replace(/\\/g, '/')])
    r.child.stdin?.end('BYE\n')
    const { code, stdout, stderr } = await r.done
    t.equal(code, 0, stderr)
    t.same(Buffer.concat(got).subarray(0, 16), nonce, 'nonce first')
    t.equal(stdout.toString(), 'BYE\n')

    fs.writeFileSync(path.join(dir, 'bad'), 'not a socket file')
    const bad = startWineRelay(t, lab, ['npiperelay', '-a', winPath(path.join(dir, 'bad'))])
    bad.child.stdin?.end()
    const b = await bad.done
    t.equal(b.code, 1)
    t.match(b.stderr, /not a libassuan socket file/)
  })

  t.test('with the real Pageant', needs(t, [...SSHD_TOOLS, 'ssh-add', 'socat']), async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const pipe = forward(pageant.pipeName)
    const pub = fs.readFileSync(path.join(lab.keysDir, 'id_ed25519.pub'), 'utf8').trim()

    t.test('WSL recipe: socat + npiperelay.exe -ei -s; ssh-add and an ssh login', async (t) => {
      const dir = shortTempDir(t)
      // Users replace npiperelay.exe with a copy under the same name.
      const dropIn = path.join(dir, 'npiperelay.exe')
      fs.copyFileSync(builtExecutable('win-x64'), dropIn)
      const sock = path.join(dir, 'agent.sock')
      await wineSocat(t, lab, sock, `${lab.wine64} ${dropIn} -ei -s ${pipe}`)
      const fp = (await run('ssh-keygen', ['-l', '-f', path.join(lab.keysDir, 'id_ed25519.pub')])).stdout.split(' ')[1] as string
      t.match((await sshAdd(sock, ['-l'])).stdout, fp, 'ssh-add -l lists the Pageant key')
      t.equal((await sshAdd(sock, ['-L'])).stdout.trim(), pub)
      const sshd = await startSshd(t, dir, pub)
      const login = await sshd.ssh(sock, [], 'echo logged-in')
      t.equal(login.stdout.trim(), 'logged-in', 'ssh signed with the Pageant key through the relay')
    })

    t.test('--agent -compat -deny add -v: ssh login, session-bind answered here, adding refused', async (t) => {
      const dir = shortTempDir(t)
      const sock = path.join(dir, 'agent.sock')
      const socat = await wineSocat(t, lab, sock, `${lab.wine64} ${builtExecutable('win-x64')} npiperelay --agent -compat -deny add -v ${pipe}`)
      let log = ''
      socat.stderr?.on('data', (d: Buffer) => (log += d.toString()))
      const sshd = await startSshd(t, dir, pub)
      t.equal((await sshd.ssh(sock, [], 'echo logged-in')).stdout.trim(), 'logged-in', 'ssh signed with the Pageant key')
      const key = path.join(dir, 'extra')
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
      const add = await sshAdd(sock, [key]).catch((e: unknown) => e as { code: number; stderr: string })
      t.match((add as { stderr: string }).stderr, /agent refused operation/, 'ssh-add is refused')
      await waitFor(() => log.includes('refused SSH_AGENTC_ADD_IDENTITY'), 'the refusal in the log').catch(() => {})
      t.match(log, /answered SSH_AGENTC_EXTENSION with SSH_AGENT_FAILURE here \(-compat\)/)
      t.match(log, /-> SSH_AGENTC_SIGN_REQUEST \(\d+ bytes\)\n(.|\n)*<- SSH_AGENT_SIGN_RESPONSE/)
      t.match(log, /refused SSH_AGENTC_ADD_IDENTITY \(-deny\)/)
    })

    t.test('32 parallel clients x 50 requests through socat: no failure, no relay left', async (t) => {
      const dir = shortTempDir(t)
      const sock = path.join(dir, 'agent.sock')
      const exe = builtExecutable('win-x64')
      const socat = await wineSocat(t, lab, sock, `${lab.wine64} ${exe} npiperelay -ei -s ${pipe}`)
      // This test process's relays (the lab tags what it starts with the
      // owner's pid; socat's EXEC children inherit it), not other files'.
      const relays = () => labWineProcesses(lab).filter((p) => p.owner === process.pid && p.pid !== socat.pid && p.cmd.includes(path.basename(exe)))
      let most = 0
      const sampler = setInterval(() => (most = Math.max(most, relays().length)), 100)
      const result = await agentClientLoad(sock, { clients: 32, requestsPerClient: 50 })
      clearInterval(sampler)
      t.equal(result.failures, 0, `failures: ${result.errors.slice(0, 3).join('; ')}`)
      t.equal(result.answered, 32 * 50)
      t.ok(most > 1, `the count sees the relays while they run (up to ${most} at once)`)
      await waitFor(() => relays().length === 0, 'relays to exit', 20_000).catch(() => {})
      t.same(relays().map((p) => p.cmd), [], 'no relay process left running')
    })
  })
}
