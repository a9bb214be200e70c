/**
 * The target of --constraints/--lock/--confirm: PuTTY 0.78's Pageant, which
 * refuses `ssh-add -t`, `ssh-add -c` and `ssh-add -x`. The built
 * relaykit-win-x64.exe under Wine runs pageant-relay behind `relay-listen
 * --mux` (one Windows process for every connection, so the emulated state
 * lasts), reached by Linux OpenSSH as in the WSL recipe. The same
 * observable results as OpenSSH's ssh-agent gives natively (see
 * test/relays/uds-relay/emulation.test.ts for the side-by-side reference).
 * The user answers through a Windows askpass program built here with mingw.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { builtExecutable, isolatedLinuxExecutable, repoRoot } from '../../../lab/built.js'
import { needs } from '../../../lab/prerequisites.js'
import { ensureWineServer, requireLab, startPageant, wineEnv, winPath } from '../../../lab/winlab.js'
import { startListener } from '../../fixtures/listener.js'
import { SSHD_TOOLS, run, startSshd, waitFor } from '../../fixtures/openssh.js'

async function sshAddTo(socket: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return run('ssh-add', args, { env: { ...process.env, SSH_AUTH_SOCK: socket, ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )
}

async function newKey(dir: string, name: string) {
  const key = path.join(dir, name)
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}-comment`, '-f', key])
  const fp = (await run('ssh-keygen', ['-l', '-f', `${key}.pub`])).stdout.split(' ')[1] as string
  return { key, fp, pub: fs.readFileSync(`${key}.pub`, 'utf8').trim() }
}

/** An askpass for ssh-add -x/-X on the Linux side: prints the passphrase in $PASS. */
function passphraseAskpass(dir: string): string {
  const script = path.join(dir, 'lock-askpass.sh')
  fs.writeFileSync(script, '#!/bin/sh\nprintf "%s\\n" "$PASS"\n', { mode: 0o755 })
  return script
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  t.test('Pageant 0.78 through pageant-relay --constraints emulate --lock emulate under --mux', needs(t, [...SSHD_TOOLS, 'ssh-add', 'x86_64-w64-mingw32-gcc']), async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const exe = isolatedLinuxExecutable(t)
    const dir = path.dirname(exe)
    const askpassExe = path.join(dir, 'askpass.exe')
    execFileSync('x86_64-w64-mingw32-gcc', ['-O2', '-o', askpassExe, path.join(repoRoot, 'test', 'fixtures', 'askpass-win.c')])
    const mode = path.join(dir, 'askpass.mode')
    const asked = path.join(dir, 'askpass.log')
    fs.writeFileSync(mode, 'no')
    fs.writeFileSync(asked, '')
    const answer = (a: 'yes' | 'no' | 'hang') => fs.writeFileSync(mode, a)
    const questions = () => {
      const lines = fs.readFileSync(asked, 'utf8').split('\n').filter(Boolean)
      fs.writeFileSync(asked, '')
      return lines
    }
    const env = { ...wineEnv(lab), ASKPASS_MODE: winPath(mode), ASKPASS_LOG: winPath(asked) }
    const win = builtExecutable('win-x64')
    const relay = ['pageant-relay', '--transport', 'pipe']
    const plainSock = path.join(dir, 'plain.sock')
    await startListener(t, exe, [plainSock, '--mux', '--', lab.wine64, win, 'mux', ...relay], { socket: plainSock, env })
    const sock = path.join(dir, 'emulated.sock')
    const emulation = ['--constraints', 'emulate', '--lock', 'emulate', '--askpass', winPath(askpassExe), '--confirm-timeout', '3']
    const l = await startListener(t, exe, ['-v', sock, '--mux', '--', lab.wine64, win, 'mux', ...relay, '-v', ...emulation], { socket: sock, env })
    const lockEnv = (pass: string) => ({ SSH_ASKPASS: passphraseAskpass(dir), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', PASS: pass })
    const listed = async (s: string) => (await sshAddTo(s, ['-l'])).stdout

    t.test('Pageant itself refuses all three', async (t) => {
      const k = await newKey(dir, 'probe')
      t.not((await sshAddTo(plainSock, ['-q', '-t', '3', k.key])).code, 0, 'ssh-add -t refused')
      t.not((await sshAddTo(plainSock, ['-q', '-c', k.key])).code, 0, 'ssh-add -c refused')
      t.not((await sshAddTo(plainSock, ['-x'], lockEnv('p'))).code, 0, 'ssh-add -x refused')
      t.notMatch(await listed(plainSock), k.fp, 'no key added')
    })

    t.test('ssh-add -t 3: listed, then gone after 3 s (±1 s)', async (t) => {
      const k = await newKey(dir, 'lifetime')
      const added = Date.now()
      t.equal((await sshAddTo(sock, ['-q', '-t', '3', k.key])).code, 0, 'ssh-add -t 3 succeeds')
      t.match(await listed(plainSock), k.fp, 'Pageant holds the key')
      await waitFor(async () => !(await listed(plainSock)).includes(k.fp), 'Pageant to lose the key', 10_000)
      const gone = (Date.now() - added) / 1000
      t.ok(gone >= 2 && gone <= 4, `gone from Pageant after ${gone.toFixed(2)} s`)
    })

    t.test('ssh-add -x / -X', async (t) => {
      const pageantKey = `${path.join(lab.keysDir, 'id_ed25519')}.pub`
      t.equal((await sshAddTo(sock, ['-x'], lockEnv('open sesame'))).code, 0, 'locked')
      t.match(await listed(sock), /no identities/, 'locked: list empty')
      t.not((await sshAddTo(sock, ['-T', pageantKey])).code, 0, 'locked: sign refused')
      t.not((await sshAddTo(sock, ['-X'], lockEnv('open says me'))).code, 0, 'wrong passphrase refused')
      t.match(await listed(sock), /no identities/, 'still locked')
      t.equal((await sshAddTo(sock, ['-X'], lockEnv('open sesame'))).code, 0, 'right passphrase unlocks')
      t.equal((await sshAddTo(sock, ['-T', pageantKey])).code, 0, 'signs again')
      t.notMatch(l.log(), /open sesame|open says me/, 'no passphrase in the log')
    })

    t.test('ssh-add -c: each ssh login asks; yes, no, no answer', async (t) => {
      const k = await newKey(dir, 'confirm')
      t.equal((await sshAddTo(sock, ['-q', '-c', k.key])).code, 0, 'ssh-add -c succeeds')
      t.match(await listed(plainSock), k.fp, 'Pageant holds the key')
      const sshd = await startSshd(t, dir, k.pub)
      const login = () => sshd.ssh(sock, [], 'echo signed-in').then((r) => r.stdout.trim(), () => 'refused')
      answer('yes')
      t.equal(await login(), 'signed-in', 'yes: logs in')
      const q = questions()
      t.equal(q.length, 1, 'asked once')
      t.match(q[0], `confirm|Allow use of key confirm-comment? Key fingerprint ${k.fp}.`, 'the question names the key as relaykit knows it')
      answer('no')
      t.equal(await login(), 'refused', 'no: refused')
      answer('hang')
      t.equal(await login(), 'refused', 'no answer: refused')
      t.match(l.log(), /refused a signature with key SHA256:\S+: no answer within 3 s/)
      await sshAddTo(sock, ['-q', '-d', `${k.key}.pub`])
    })
  })
}
