/**
 * pageant-relay for real: the built relaykit-win-x64.exe under Wine against
 * PuTTY 0.78's Pageant, over both of Pageant's doors, reached from Linux
 * OpenSSH through socat as in the WSL2 recipe.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { AGENT_FAILURE_FRAME, AgentMessage, FrameParser, encodeFrame } from '../../../shared/agent/frames.js'
import { agentClientLoad } from '../../fixtures/agent-load.js'
import { builtExecutable } from '../../../lab/built.js'
import { SSHD_TOOLS, run, sshAdd, startSshd } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { recordFigures } from '../../../lab/figures.js'
import { startWineRelay, wineSocat } from '../../fixtures/wine-relay.js'
import { ensureWineServer, holdPageantAbsent, requireLab, startPageant } from '../../../lab/winlab.js'

const identities = encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)

/** Where pageant-relay.exe under Wine remembers Pageant's pipe name: %LOCALAPPDATA%\relaykit, seen from Linux. */
const rememberedFile = (prefix: string) =>
  path.join(prefix, 'drive_c', 'users', os.userInfo().username, 'AppData', 'Local', 'relaykit', 'pageant-pipe.json')
const PAGEANT_WAIT = { timeoutMs: 600_000 }
const OPENSSH_THROUGH_SOCAT = needs(t, [...SSHD_TOOLS, 'ssh-add', 'socat'])

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  const exe = builtExecutable('win-x64')
  const pub = fs.readFileSync(path.join(lab.keysDir, 'id_ed25519.pub'), 'utf8').trim()

  t.test('one key, both transports', needs(t, ['ssh-keygen']), async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, ...PAGEANT_WAIT })
    t.teardown(() => pageant.stop())
    const fp = (await run('ssh-keygen', ['-l', '-f', path.join(lab.keysDir, 'id_ed25519.pub')])).stdout.split(' ')[1] as string

    t.test('the computed pipe name is the one Pageant writes with --openssh-config; it is remembered, privately', async (t) => {
      const remembered = rememberedFile(lab.prefix)
      fs.rmSync(remembered, { force: true })
      const r = startWineRelay(t, lab, ['pageant-relay', '-v', '--transport', 'pipe'])
      r.child.stdin?.end(identities)
      const { code, stdout, stderr } = await r.done
      t.equal(code, 0, stderr)
      t.equal(stdout[4], AgentMessage.SSH_AGENT_IDENTITIES_ANSWER)
      const computed = /Pageant pipe: (\S+)/.exec(stderr)?.[1]
      t.equal(computed, pageant.pipeName)
      t.equal(JSON.parse(fs.readFileSync(remembered, 'utf8')).name, pageant.pipeName, 'remembered for the next start')
      // Wine derives the Unix mode from the DACL the file was created with:
      // one Node's fs made would be readable by others (0644).
      t.equal(fs.statSync(remembered).mode & 0o007, 0, 'created with no access for others')

      const next = startWineRelay(t, lab, ['pageant-relay', '-v', '--transport', 'pipe'])
      next.child.stdin?.end(identities)
      const n = await next.done
      t.equal(n.stdout[4], AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, n.stderr)
      t.match(n.stderr, /Pageant pipe \(remembered\): /, 'the next start uses the remembered name')
    })

    t.test('a remembered name that is wrong is computed again and replaced', async (t) => {
      const remembered = rememberedFile(lab.prefix)
      const value = JSON.parse(fs.readFileSync(remembered, 'utf8'))
      const wrong = pageant.pipeName.replace(/[0-9a-f]{64}$/, '0'.repeat(64))
      fs.writeFileSync(remembered, JSON.stringify({ ...value, name: wrong }))
      const r = startWineRelay(t, lab, ['pageant-relay', '-v', '--transport', 'pipe'])
      r.child.stdin?.end(identities)
      const { code, stdout, stderr } = await r.done
      t.equal(code, 0, stderr)
      t.equal(stdout[4], AgentMessage.SSH_AGENT_IDENTITIES_ANSWER)
      t.match(stderr, /remembered Pageant pipe is gone; computing its name again/)
      t.equal(JSON.parse(fs.readFileSync(remembered, 'utf8')).name, pageant.pipeName, 'the right name remembered again')
    })

    t.test('--transport auto with no pipe to find falls back to WM_COPYDATA', async (t) => {
      // Pageant 0.78 cannot run without its pipe: it exits when it cannot
      // create it. But the relay finds the pipe by name,
      // pageant.<user>.<hash>, and under Wine the user name comes from
      // $USER: a relay run with another USER asks for a pipe that nobody
      // serves, which is where it stands with Pageant before 0.75, KeeAgent
      // or KeePassXC. Pageant's window is still there, and the mapping's
      // owner is the token's SID, which USER does not change.
      const env = { USER: 'relaykit-no-pipe' }
      const pipeOnly = startWineRelay(t, lab, ['pageant-relay', '--transport', 'pipe'], { env })
      pipeOnly.child.stdin?.end(identities)
      const p = await pipeOnly.done
      t.same(p.stdout, AGENT_FAILURE_FRAME, '--transport pipe finds no pipe for that user: FAILURE')
      t.match(p.stderr, /Pageant is not running: no pipe \\\\\.\\pipe\\pageant\.relaykit-no-pipe\./, 'the pipe it looked for')

      const direct = startWineRelay(t, lab, ['pageant-relay', '--transport', 'wmcopydata'])
      direct.child.stdin?.end(identities)
      const expected = (await direct.done).stdout
      t.equal(expected[4], AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, "Pageant's own answer over WM_COPYDATA, for comparison")

      const auto = startWineRelay(t, lab, ['pageant-relay', '-v'], { env })
      auto.child.stdin?.end(identities)
      const a = await auto.done
      t.equal(a.code, 0, a.stderr)
      t.match(a.stderr, /no Pageant pipe; trying WM_COPYDATA/, 'auto (the default) saw no pipe and went on')
      t.same(a.stdout, expected, "and answered with Pageant's answer")
    })

    t.test('a copy named pageant-relay.exe behind socat (the per-connection WSL recipe): ssh-add lists the key', OPENSSH_THROUGH_SOCAT, async (t) => {
      const dir = shortTempDir(t)
      const named = path.join(dir, 'pageant-relay.exe')
      fs.copyFileSync(exe, named)
      const sock = path.join(dir, 'agent.sock')
      // As the README has it: EXEC:/mnt/c/tools/pageant-relay.exe, no arguments.
      await wineSocat(t, lab, sock, `${lab.wine64} ${named}`)
      t.match((await sshAdd(sock, ['-l'])).stdout, fp, 'ssh-add -l')
      t.equal((await sshAdd(sock, ['-L'])).stdout.trim(), pub, 'ssh-add -L')
    })

    for (const transport of ['pipe', 'wmcopydata']) {
      t.test(`--transport ${transport}: ssh-add, ssh login, ssh -A`, OPENSSH_THROUGH_SOCAT, async (t) => {
        const dir = shortTempDir(t)
        const sock = path.join(dir, 'agent.sock')
        await wineSocat(t, lab, sock, `${lab.wine64} ${exe} pageant-relay --transport ${transport}`)
        t.match((await sshAdd(sock, ['-l'])).stdout, fp, 'ssh-add -l')
        t.equal((await sshAdd(sock, ['-L'])).stdout.trim(), pub, 'ssh-add -L')
        const sshd = await startSshd(t, dir, pub)
        t.equal((await sshd.ssh(sock, [], 'echo signed')).stdout.trim(), 'signed', 'ssh login signs with the Pageant key')
        t.match((await sshd.ssh(sock, ['-A'], 'ssh-add -l')).stdout, fp, 'the forwarded agent lists it on the far side')
      })
    }

    t.test('32 parallel clients x 50 requests over WM_COPYDATA: no failure', needs(t, ['socat']), async (t) => {
      const dir = shortTempDir(t)
      const sock = path.join(dir, 'agent.sock')
      await wineSocat(t, lab, sock, `${lab.wine64} ${exe} pageant-relay --transport wmcopydata`)
      const result = await agentClientLoad(sock, { clients: 32, requestsPerClient: 50 })
      t.equal(result.failures, 0, result.errors.slice(0, 3).join('; '))
      t.equal(result.answered, 1600)
    })

    t.test('garbage and oversized messages end the session with exit 5 after earlier answers', async (t) => {
      const r = startWineRelay(t, lab, ['pageant-relay'])
      const oversized = Buffer.from([0x00, 0x04, 0x00, 0x01, 13]) // 256 KiB + 1
      r.child.stdin?.end(Buffer.concat([identities, oversized]))
      const { code, stdout, stderr } = await r.done
      t.equal(code, 5)
      t.equal(stdout[4], AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, 'the first request was answered')
      t.match(stderr, /exceeds the limit of 262144 bytes/)
    })

  })

  t.test('Pageant killed mid-session: FAILURE, the session goes on, exit 3 at the end', async (t) => {
    for (const transport of ['pipe', 'wmcopydata']) {
      const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, ...PAGEANT_WAIT })
      const r = startWineRelay(t, lab, ['pageant-relay', '--transport', transport])
      const parser = new FrameParser()
      const answers: number[] = []
      r.child.stdout?.on('data', (d: Buffer) => answers.push(...parser.push(d).map((f) => f.type)))
      r.child.stdin?.write(identities)
      while (answers.length < 1) await new Promise((res) => setTimeout(res, 50))
      await pageant.stop()
      r.child.stdin?.end(identities)
      const { code, stderr } = await r.done
      t.equal(code, 3, `${transport}: exit 3 (the agent became unreachable)`)
      t.same(answers, [AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, AgentMessage.SSH_AGENT_FAILURE], `${transport}: answer, then FAILURE`)
      t.match(stderr, /Pageant is not running|closed the connection/, transport)
      recordFigures('faults', { injected: 1, survived: t.passing() ? 1 : 0 })
    }
  })

  t.test('Pageant frozen: FAILURE after --timeout with its own message and exit 6, on both transports', async (t) => {
    for (const transport of ['pipe', 'wmcopydata']) {
      const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, ...PAGEANT_WAIT })
      // Stopped, not killed: its pipe and window stay, and nothing answers.
      process.kill(pageant.process.pid ?? 0, 'SIGSTOP')
      try {
        const r = startWineRelay(t, lab, ['pageant-relay', '--transport', transport, '--timeout', '1'])
        r.child.stdin?.end(identities)
        const { code, stdout, stderr } = await r.done
        t.equal(code, 6, `${transport}: exit 6 (timeout)`)
        t.same(stdout, AGENT_FAILURE_FRAME, `${transport}: FAILURE`)
        t.match(stderr, /did not answer within 1000 ms/, transport)
      } finally {
        process.kill(pageant.process.pid ?? 0, 'SIGCONT')
        await pageant.stop()
      }
    }
  })

  t.test('Pageant not running: a clear message and FAILURE answers, no hang', async (t) => {
    // Another test file's Pageant would answer: take the lab's Pageant turn without starting one.
    await holdPageantAbsent(lab, { t, ...PAGEANT_WAIT })
    const r = startWineRelay(t, lab, ['pageant-relay'])
    r.child.stdin?.end(Buffer.concat([identities, identities]))
    const { code, stdout, stderr } = await r.done
    t.equal(code, 3, 'unavailable')
    t.same(stdout, Buffer.concat([AGENT_FAILURE_FRAME, AGENT_FAILURE_FRAME]))
    t.match(stderr, /Pageant is not running: no pipe \\\\\.\\pipe\\pageant\.\S+ and no window of class Pageant/)
  })

  t.test('identities answer over 8 KiB (where the Go bridges stop) arrives intact on both transports', needs(t, ['ssh-keygen', 'puttygen']), async (t) => {
    const dir = shortTempDir(t)
    const keys: string[] = []
    for (let i = 0; i < 12; i++) {
      const key = path.join(dir, `k${i}`)
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `key-${i}-${'x'.repeat(1000)}`, '-f', key])
      await run('puttygen', [key, '-O', 'private', '-o', `${key}.ppk`])
      keys.push(`${key}.ppk`)
    }
    const pageant = await startPageant(lab, keys, { t, ...PAGEANT_WAIT })
    t.teardown(() => pageant.stop())
    for (const transport of ['pipe', 'wmcopydata']) {
      const r = startWineRelay(t, lab, ['pageant-relay', '--transport', transport])
      r.child.stdin?.end(identities)
      const { code, stdout } = await r.done
      t.equal(code, 0)
      t.ok(stdout.length > 8192, `${transport}: answer of ${stdout.length} bytes`)
      t.equal(stdout.readUInt32BE(5), 12, `${transport}: all 12 keys`)
      for (let i = 0; i < 12; i++) t.ok(stdout.includes(Buffer.from(`key-${i}-xxx`)), `${transport}: key ${i}`)
    }
  })
}
