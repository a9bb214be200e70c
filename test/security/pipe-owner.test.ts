/**
 * relay-listen checks who owns a pipe before it takes it for its own served
 * address. (Clients do not check: the extra connection that reading the
 * owner takes made Pageant drop clients under parallel load.) Under Wine a squatter (node.exe) creates a pipe whose
 * security descriptor names another user's SID as owner, as a squatting
 * user's own pipe would; Wine has one account, so this is the owner check
 * against a foreign SID, not another account trying. The built
 * relaykit-win-x64.exe's relay-listen must refuse it (naming the owner,
 * exit 4), not take it for its own served address.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { builtExecutable } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, requireLab, runWine, spawnWine, uniquePipeName, winPath } from '../../lab/winlab.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { waitFor } from '../fixtures/openssh.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const FOREIGN = 'S-1-5-21-1004336348-1177238915-682003330-1001'

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

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  const exe = builtExecutable('win-x64')

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
