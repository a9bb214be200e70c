/**
 * Named-pipe clients and the pipe listener check who owns a pipe before
 * they trust it. Under Wine a squatter (node.exe) creates a pipe whose
 * security descriptor names another user's SID as owner, as a squatting
 * user's own pipe would; Wine has one account, so this is the owner check
 * against a foreign SID, not another account trying. The built
 * relaykit-win-x64.exe must refuse it (naming the owner; exit 4, npiperelay 1) and send
 * it nothing: npiperelay, pageant-relay on the computed Pageant pipe name,
 * and relay-listen, which must not take it for its own served address. The
 * same squatter owned by the user is the control: served as before, and it
 * sees exactly one connection per client (the owner is read from the
 * connection the relay talks through, not from a probe of its own: an extra
 * client per connection made Pageant drop clients under parallel load).
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { builtExecutable } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, holdPageantAbsent, requireLab, runWine, spawnWine, uniquePipeName, winPath } from '../../lab/winlab.js'
import { AgentMessage, encodeFrame } from '../../shared/agent/frames.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { waitFor } from '../fixtures/openssh.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const FOREIGN = 'S-1-5-21-1004336348-1177238915-682003330-1001'
const request = encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)

interface Squatter {
  child: ChildProcess
  /** What the squatter saw: "connected" per client, "read N" per request received. */
  log(): string[]
}

async function squat(t: Test, lab: LabEnv, pipe: string, ownerSid: string): Promise<Squatter> {
  const dir = shortTempDir(t)
  const logFile = path.join(dir, 'log')
  const outFile = path.join(dir, 'out')
  fs.writeFileSync(logFile, '')
  const out = fs.openSync(outFile, 'w')
  const child = spawnWine(lab, lab.nodeExe, [winPath(path.join(here, 'fixtures', 'squatter-pipe.mjs'))], {
    env: { PIPE: pipe, OWNER_SID: ownerSid, LOG: winPath(logFile) },
    stdio: ['ignore', out, out],
    t,
  })
  fs.closeSync(out)
  await waitFor(() => fs.readFileSync(outFile, 'utf8').includes('ready'), `the squatter on ${pipe}: ${fs.readFileSync(outFile, 'utf8')}`, 60_000)
  return { child, log: () => fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) }
}

const refusal = (pipe: string) => new RegExp(`the pipe belongs to ${FOREIGN}, not to you \\(S-1-5-[\\d-]+\\) or the system: .*refusing to connect`.replace('the pipe', `${pipe.replace(/\\/g, '\\\\').replace(/\./g, '\\.')}: the pipe`))

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  const exe = builtExecutable('win-x64')

  t.test('npiperelay: a pipe another user owns is refused and sent nothing; our own is served', async (t) => {
    // npiperelay exits 1 on every failure, as npiperelay.exe does (scripts test for it).
    for (const [owner, expected] of [[FOREIGN, ExitCode.ERROR], ['', ExitCode.OK]] as const) {
      const pipe = uniquePipeName('squat')
      const squatter = await squat(t, lab, pipe, owner)
      const r = await runWine(lab, exe, ['npiperelay', pipe.replace(/\\/g, '/')], { input: request, t })
      if (expected === ExitCode.ERROR) {
        t.equal(r.code, ExitCode.ERROR, `foreign owner: exit 1 (${r.stderr.trim()})`)
        t.match(r.stderr, refusal(pipe))
        t.notOk(squatter.log().some((l) => l.startsWith('read')), `the squatter received nothing (${squatter.log().join(', ')})`)
      } else {
        t.equal(r.code, ExitCode.OK, `control, owned by the user: exit 0 (${r.stderr.trim()})`)
        t.same([...Buffer.from(r.stdout, 'latin1')], [0, 0, 0, 1, 5], 'control: the answer came back')
        t.same(squatter.log(), ['connected', `read ${request.length}`], 'control: one connection, and the request reached the server through it')
      }
      squatter.child.kill('SIGKILL')
    }
  })

  t.test("pageant-relay: a squatter on Pageant's computed pipe name is refused, not asked", async (t) => {
    await holdPageantAbsent(lab, { t, timeoutMs: 600_000 })
    const probe = await runWine(lab, exe, ['pageant-relay', '-v', '--transport', 'pipe'], { input: request, t })
    const pipe = /Pageant pipe: (\S+)/.exec(probe.stderr)?.[1]
    if (!pipe) throw new Error(`no pipe name in: ${probe.stderr}`)
    const squatter = await squat(t, lab, pipe, FOREIGN)
    for (const transport of ['pipe', 'auto']) {
      const r = await runWine(lab, exe, ['pageant-relay', '--transport', transport], { input: request, t })
      t.equal(r.code, ExitCode.REFUSED, `--transport ${transport}: exit 4`)
      t.same([...Buffer.from(r.stdout, 'latin1')], [0, 0, 0, 1, 5], `--transport ${transport}: the client gets SSH_AGENT_FAILURE`)
      t.match(r.stderr, refusal(pipe))
    }
    t.notOk(squatter.log().some((l) => l.startsWith('read')), `the squatter received nothing (${squatter.log().join(', ')})`)
  })

  t.test('relay-listen on a pipe name another user serves: exit 4, not "already served"', async (t) => {
    const pipe = uniquePipeName('squat')
    await squat(t, lab, pipe, FOREIGN)
    for (const flags of [['-v'], ['--background']]) {
      const r = await runWine(lab, exe, ['relay-listen', ...flags, pipe.replace(/\\/g, '/'), '--', 'pageant-relay'], { t, timeoutMs: 120_000 })
      t.equal(r.code, ExitCode.REFUSED, `${flags.join(' ')}: exit 4 (${r.stderr.trim()})`)
      t.match(r.stderr, /the pipe belongs to S-1-5-21-1004336348-1177238915-682003330-1001, not to you/)
    }
  })
}
