/**
 * relaykit's Pageant under load and from the other side (the built .exe
 * under Wine): relaykit's own pageant-relay, from Linux through socat,
 * lists the upstream's keys over both of Pageant's doors, an identities
 * answer over 8 KiB intact; 32 plink logins at once over WM_COPYDATA all
 * succeed while another Windows process finds the window answering
 * within 1 s, and 32 at once over the pipe; a listener killed outright leaves neither window nor pipe,
 * and the next start serves again.
 */
import path from 'node:path'
import t, { type Test } from 'tap'
import { builtExecutable } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, holdPageantAbsent, requireLab, requirePuttyClients, runWine } from '../../../lab/winlab.js'
import { run, sshAdd } from '../../fixtures/openssh.js'
import { type Upstream, plink, servePageant, startUpstream, upstreamRelay } from '../../fixtures/pageant-server.js'
import { wineSocat } from '../../fixtures/wine-relay.js'
import { probeWindow } from '../../fixtures/window-probe.js'

/** Keys with long comments, until the upstream's identities answer passes `bytes`. */
async function manyKeys(up: Upstream, dir: string, bytes: number): Promise<void> {
  for (let i = 0; ; i++) {
    const answer = (await sshAdd(up.agent.socket, ['-L'])).stdout
    if (answer.length > bytes) return
    const key = path.join(dir, `extra-${i}`)
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `extra-${i}-${'c'.repeat(900)}`, '-f', key])
    await sshAdd(up.agent.socket, ['-q', key])
  }
}

/** What relaykit's pageant-relay, from Linux through socat, lists with `ssh-add -L`. */
async function listThrough(t: Test, lab: LabEnv, transport: string): Promise<string> {
  const sock = path.join(shortTempDir(t), 'agent.sock')
  await wineSocat(t, lab, sock, `${lab.wine64} ${builtExecutable('win-x64')} pageant-relay --transport ${transport}`)
  return (await sshAdd(sock, ['-L'])).stdout
}

const lab = requireLab(t)
const putty = lab && requirePuttyClients(t, lab)
if (lab && putty) {
  ensureWineServer(lab)

  t.test('relaykit Pageant under load, and seen by pageant-relay', async (t) => {
    t.teardown(await holdPageantAbsent(lab, { t, timeoutMs: 600_000 }))
    const up = await startUpstream(t, shortTempDir(t))

    await t.test('32 plink logins at once over WM_COPYDATA; the window answers a probe within 1 s meanwhile', async (t) => {
      const served = await servePageant(t, lab, ['--no-pipe'], upstreamRelay(up))
      t.teardown(served.kill)
      const probe = await probeWindow(t, lab, shortTempDir(t))
      const logins = await Promise.all(Array.from({ length: 32 }, (_, i) => plink(lab, putty.plink, up, `echo login-${i}`, t)))
      const report = await probe.report()
      const failed = logins.map((r, i) => (r.code === 0 && r.stdout.includes(`login-${i}`) ? '' : `${i}: ${r.code} ${r.stderr.trim()}`)).filter(Boolean)
      t.same(failed, [], '0 failures among 32 parallel logins')
      t.equal((served.log().match(/SSH_AGENT_SIGN_RESPONSE/g) ?? []).length, 32, 'each signed through the window')
      t.ok(report.probes > 0, `the probe ran (${report.probes} probes, slowest ${report.slowestMs} ms)`)
      t.equal(report.failures, 0, 'no WM_NULL probe timed out (1 s) while the logins ran')
    })

    await t.test("32 plink logins at once over Pageant's pipe (PuTTY's default): 0 failures", async (t) => {
      const served = await servePageant(t, lab, [], upstreamRelay(up))
      t.teardown(served.kill)
      const logins = await Promise.all(Array.from({ length: 32 }, (_, i) => plink(lab, putty.plink, up, `echo pipe-login-${i}`, t)))
      const failed = logins.map((r, i) => (r.code === 0 && r.stdout.includes(`pipe-login-${i}`) ? '' : `${i}: ${r.code} ${r.stderr.trim()}`)).filter(Boolean)
      t.same(failed, [], '0 failures among 32 parallel logins')
      t.comment(`requests that fell back to the window (a pipe query of plink's failed): ${(served.log().match(/WM_COPYDATA /g) ?? []).length} of 64`)
    })

    await t.test('pageant-relay --transport wmcopydata and pipe list the keys; an answer over 8 KiB intact', async (t) => {
      const served = await servePageant(t, lab, [], upstreamRelay(up))
      t.teardown(served.kill)
      // 10 KiB of ssh-add -L text: the binary answer (blob and comment per key, without base64) is over 8 KiB too.
      await manyKeys(up, shortTempDir(t), 10 * 1024)
      const direct = (await sshAdd(up.agent.socket, ['-L'])).stdout
      t.ok(direct.length > 8 * 1024, `the upstream's answer is ${direct.length} bytes of text`)
      t.equal(await listThrough(t, lab, 'wmcopydata'), direct, 'over WM_COPYDATA: every key, every comment byte')
      t.equal(await listThrough(t, lab, 'pipe'), direct, "over Pageant's pipe: the same")
    })

    await t.test('killed outright: no window and no pipe left; the next start serves', async (t) => {
      const served = await servePageant(t, lab, [], upstreamRelay(up))
      await served.kill()
      const exe = builtExecutable('win-x64')
      for (const transport of ['wmcopydata', 'pipe']) {
        const r = await runWine(lab, exe, ['pageant-relay', '--transport', transport], { t, input: Buffer.from([0, 0, 0, 1, 11]) })
        t.equal(r.code, 3, `${transport}: Pageant is not running (${r.stderr.trim()})`)
      }
      const again = await servePageant(t, lab, [], upstreamRelay(up))
      t.teardown(again.kill)
      const r = await runWine(lab, exe, ['pageant-relay'], { t, input: Buffer.from([0, 0, 0, 1, 11]) })
      t.equal(Buffer.from(r.stdout, 'latin1')[4], 12, 'served again after a restart')
    })
  })
}
