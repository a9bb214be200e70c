/**
 * relaykit as Pageant (`relay-listen --pageant`, the built .exe under Wine)
 * for PuTTY's own clients: plink.exe and psftp.exe 0.78 log in to a loopback
 * sshd with a key only the upstream agent holds (a Linux ssh-agent, reached
 * from Windows through a Cygwin socket file), over Pageant's named pipe and,
 * with --no-pipe, over WM_COPYDATA; a second start, and a start while
 * another program owns the window, exit 0 and say who serves.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { builtExecutable } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { agentKeyCount, ensureWineServer, holdPageantAbsent, labWineProcesses, requireLab, requirePuttyClients, runWine, spawnWine, startPageant, uniquePipeName, winPath } from '../../../lab/winlab.js'
import { waitFor } from '../../fixtures/openssh.js'
import { plink, servePageant, startUpstream, upstreamRelay } from '../../fixtures/pageant-server.js'

const lab = requireLab(t)
/** What relaykit's --openssh-config wrote, to hold pageant.exe's own line to. */
let ourConfigLine: string | undefined
const putty = lab && requirePuttyClients(t, lab)
if (lab && putty) {
  ensureWineServer(lab)

  t.test('PuTTY clients through relaykit Pageant', async (t) => {
    t.teardown(await holdPageantAbsent(lab, { t, timeoutMs: 600_000 }))
    const up = await startUpstream(t, shortTempDir(t))

    const denied = await plink(lab, putty.plink, up, 'echo unreachable', t)
    t.not(denied.code, 0, `without relaykit's Pageant plink cannot log in: the key is the upstream's alone (${denied.stderr.trim()})`)

    await t.test('over the named pipe (PuTTY 0.75+ default); --openssh-config; doctor names relaykit and its upstream', async (t) => {
      const config = path.join(shortTempDir(t), 'pageant.conf')
      const served = await servePageant(t, lab, ['--openssh-config', winPath(config)], upstreamRelay(up))
      t.teardown(served.kill)
      const r = await plink(lab, putty.plink, up, 'echo logged-in-over-pipe', t)
      t.equal(r.code, 0, r.stderr)
      t.match(r.stdout, /logged-in-over-pipe/)
      // plink asks the pipe first and falls back to the window only when a pipe query fails, so
      // the pipe served at least one request if relays ran for more connections than the window had requests.
      const count = (re: RegExp) => (served.log().match(re) ?? []).length
      const overPipe = () => count(/uds-relay ended/g) - count(/WM_COPYDATA /g)
      await waitFor(() => overPipe() >= 1, 'a request served over the pipe', 5000).catch(() => {})
      t.ok(overPipe() >= 1, `plink's requests came over the pipe (${overPipe()} pipe connections, ${count(/WM_COPYDATA /g)} fallbacks to the window)`)
      const pipe = /serving Pageant's pipe (\S+)/.exec(served.log())?.[1] ?? ''
      t.match(pipe, /^\\\\\.\\pipe\\pageant\.\S+\.[0-9a-f]{64}$/, 'the pipe has the name Pageant gives it')
      ourConfigLine = fs.readFileSync(config, 'latin1')
      t.equal(ourConfigLine, `IdentityAgent ${pipe}\r\n`, '--openssh-config: the IdentityAgent line for that pipe')

      const doctor = await runWine(lab, builtExecutable('win-x64'), ['doctor', '--json'], { t, timeoutMs: 120_000 })
      const row = (JSON.parse(doctor.stdout) as { checks: { name: string; detail: string }[] }).checks.find((c) => c.name === 'Pageant window')
      t.match(row?.detail, /^WM_COPYDATA to relaykit \(pid \d+, .*relaykit-win-x64\.exe\), passing requests to uds-relay --cygwin-variant cygwin Z:\\.*agent\.cygsock: the agent answers, 1 key/, `doctor: ${row?.detail}`)

      const again = await runWine(lab, builtExecutable('win-x64'), ['relay-listen', '--pageant', '--', ...upstreamRelay(up)], { t, timeoutMs: 120_000 })
      t.equal(again.code, 0, 'a second relaykit Pageant exits 0')
      t.match(again.stderr, /Pageant is already served by relaykit \(pid \d+, .*\.exe\)/, `and says who serves: ${again.stderr.trim()}`)
    })

    await t.test("RELAY npiperelay -ei -s to an agent's named pipe (the Win32-OpenSSH recipe): plink over both doors", async (t) => {
      // The agent's pipe: relaykit's own listener in front of the upstream, standing in for openssh-ssh-agent.
      const agentPipe = uniquePipeName('agent').replace(/\\/g, '/')
      const logFile = path.join(shortTempDir(t), 'agent-pipe.log')
      const fd = fs.openSync(logFile, 'w')
      spawnWine(lab, builtExecutable('win-x64'), ['relay-listen', '-v', agentPipe, '--', ...upstreamRelay(up)], { stdio: ['ignore', 'ignore', fd], t })
      fs.closeSync(fd)
      await waitFor(() => fs.readFileSync(logFile, 'utf8').includes('listening'), 'the agent pipe', 60_000)
      for (const doors of [[], ['--no-pipe']]) {
        const served = await servePageant(t, lab, doors, ['npiperelay', '-ei', '-s', agentPipe])
        const r = await plink(lab, putty.plink, up, 'echo through-npiperelay', t)
        await served.kill()
        t.equal(r.code, 0, `${doors.join(' ') || 'default'}: ${r.stderr}`)
        t.match(r.stdout, /through-npiperelay/)
      }
    })

    await t.test('--background: returns once Pageant is served; plink logs in', async (t) => {
      const marker = `relaykit-background-${process.pid}`
      t.teardown(() => {
        for (const p of labWineProcesses(lab).filter((p) => p.cmd.includes(marker))) process.kill(p.pid, 'SIGKILL')
      })
      const logFile = path.join(shortTempDir(t), `${marker}.log`)
      const args = ['relay-listen', '-v', '--pageant', '--background', '--logfile', winPath(logFile), '--', ...upstreamRelay(up)]
      const r = await runWine(lab, builtExecutable('win-x64'), args, { t, timeoutMs: 120_000 })
      t.equal(r.code, 0, r.stderr)
      t.match(fs.readFileSync(logFile, 'utf8'), /listening in the background as pid \d+/)
      const login = await plink(lab, putty.plink, up, 'echo logged-in-background', t)
      t.equal(login.code, 0, login.stderr)
      t.match(login.stdout, /logged-in-background/)
    })

    await t.test('--no-pipe: over WM_COPYDATA; psftp puts and gets 3 MiB byte-exact', async (t) => {
      const served = await servePageant(t, lab, ['--no-pipe'], upstreamRelay(up))
      t.teardown(served.kill)
      const r = await plink(lab, putty.plink, up, 'echo logged-in-over-wm-copydata', t)
      t.equal(r.code, 0, r.stderr)
      t.match(r.stdout, /logged-in-over-wm-copydata/)
      t.match(served.log(), /WM_COPYDATA SSH_AGENTC_SIGN_REQUEST \(\d+ bytes\) → SSH_AGENT_SIGN_RESPONSE/, 'the signature came through the window')
      t.notMatch(served.log(), /serving Pageant's pipe/)

      const dir = shortTempDir(t)
      const original = crypto.randomBytes(3 * 1024 * 1024)
      fs.writeFileSync(path.join(dir, 'in.bin'), original)
      const script = path.join(dir, 'batch.txt')
      fs.writeFileSync(script, [`put ${winPath(path.join(dir, 'in.bin'))} ${path.join(dir, 'up.bin')}`, `get ${path.join(dir, 'up.bin')} ${winPath(path.join(dir, 'down.bin'))}`, 'quit', ''].join('\r\n'))
      const sftp = await runWine(
        lab,
        putty.psftp,
        ['-batch', '-agent', '-P', String(up.sshd.port), '-l', os.userInfo().username, '-hostkey', up.hostKey, '-b', winPath(script), '127.0.0.1'],
        { t, timeoutMs: 180_000 },
      )
      t.equal(sftp.code, 0, sftp.stderr)
      t.ok(fs.readFileSync(path.join(dir, 'up.bin')).equals(original), 'put: the server has the 3 MiB byte for byte')
      t.ok(fs.readFileSync(path.join(dir, 'down.bin')).equals(original), 'get: back on the Windows side byte for byte')
    })
  })
}

if (lab) {
  t.test('the real Pageant already running: relaykit exits 0 and says it is not relaykit', async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const r = await runWine(lab, builtExecutable('win-x64'), ['relay-listen', '--pageant', '--', 'pageant-relay'], { t, timeoutMs: 120_000 })
    t.equal(r.code, 0, 'exit 0, as for any address a live listener serves')
    t.match(r.stderr, /Pageant is already served by pageant\.exe \(pid \d+\): a Pageant that is not relaykit/, r.stderr.trim())
    t.equal(await agentKeyCount(lab, pageant.pipeName), 1, "the real Pageant still serves its pipe: relaykit took nothing over")
    if (ourConfigLine) t.equal(fs.readFileSync(pageant.opensshConfigPath, 'latin1'), ourConfigLine, "pageant.exe --openssh-config writes the very line relaykit wrote")
    const doctor = await runWine(lab, builtExecutable('win-x64'), ['doctor', '--json'], { t, timeoutMs: 120_000 })
    const row = (JSON.parse(doctor.stdout) as { checks: { name: string; detail: string }[] }).checks.find((c) => c.name === 'Pageant window')
    t.match(row?.detail, /^WM_COPYDATA to pageant\.exe \(pid \d+\): a Pageant that is not relaykit: the agent answers, 1 key/, `doctor: ${row?.detail}`)
  })
}
