/**
 * The native koffi module cache on Windows: the built relaykit-win-x64.exe
 * under Wine, with LOCALAPPDATA (the cache's base) pointed at folders made
 * for the test. The executable writes koffi.node to
 * <base>\relaykit\native\<sha256>\ and loads it; the first koffi() then
 * checks those paths and refuses (exit 4) when anyone but the user, SYSTEM
 * and Administrators may write one, before doing any Win32 work: doctor
 * prints nothing. Wine derives a folder's DACL from its Unix mode (0777:
 * Everyone may write; 0755: Everyone may read), so the modes here are the
 * ACLs the check reads. Wine sets LOCALAPPDATA itself for a process started
 * from Linux, so it is set through cmd. Wine shows a folder that another
 * Unix uid owns (nobody; the test runs as root) as owned by the anonymous
 * SID, so the owner refusal is real here too.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { assertCompiled, builtExecutable } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, requireLab, runWine, winPath } from '../../lab/winlab.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { parseSddl } from '../../shared/win32/security.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const NOBODY = 65534

/** `doctor --json` (it loads koffi) with LOCALAPPDATA=`base`. */
function doctorWithCache(t: Test, lab: LabEnv, base: string) {
  const command = `set LOCALAPPDATA=${winPath(base)}&& ${winPath(builtExecutable('win-x64'))} doctor --json`
  return runWine(lab, 'cmd', ['/c', command], { t, timeoutMs: 120_000 })
}

/** The cache paths under `base` after a run: relaykit, native, <sha256>, koffi.node. */
function cachePaths(t: Test, base: string): string[] {
  const native = path.join(base, 'relaykit', 'native')
  const shas = fs.existsSync(native) ? fs.readdirSync(native) : []
  t.equal(shas.length, 1, 'one cached koffi.node')
  const dir = path.join(native, shas[0] ?? '')
  return [path.dirname(native), native, dir, path.join(dir, 'koffi.node')]
}

/** Each path's stored owner and DACL and the user's SID, read by node.exe under Wine. */
async function securityOf(t: Test, lab: LabEnv, paths: string[]): Promise<{ sddls: string[]; userSid: string }> {
  const module = winPath(path.join(root, 'lib', 'shared', 'win32', 'security.js')).replace(/\\/g, '/')
  const script = `import fs from 'node:fs'; const m = await import('file:///${module}'); const sddls = [];
for (const p of ${JSON.stringify(paths.map(winPath))}) sddls.push(await m.fileSecuritySddl(p));
fs.writeSync(1, JSON.stringify({ sddls, userSid: await m.currentUserSid() }) + '\\n')`
  const r = await runWine(lab, lab.nodeExe, ['--input-type=module', '-e', script], { t })
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as { sddls: string[]; userSid: string }
}

/** The trustees other than the user and SYSTEM that an SDDL grants anything. */
function othersIn(sddl: string, userSid: string): string[] {
  return parseSddl(sddl).aces.filter((ace) => ![userSid, 'SY'].includes(ace.split(';')[5] ?? ''))
}

function expectRefused(t: Test, r: { code: number | null; stdout: string; stderr: string }, open: string): void {
  t.equal(r.code, ExitCode.REFUSED, `refused with exit 4 (${r.stderr})`)
  t.match(r.stderr, `refusing to use the native koffi module cache: ${winPath(open)} may be changed by Everyone`, 'names the folder and who may write it')
  t.match(r.stderr, /icacls ".*" \/inheritance:r .*or point LOCALAPPDATA at a folder only you can write/, 'says how to fix it')
  t.match(r.stderr, /loaded once for this check/, 'says what it cannot undo')
  t.equal(r.stdout, '', 'doctor did nothing: no report')
}

function expectRan(t: Test, r: { code: number | null; stdout: string; stderr: string }): void {
  t.ok(r.code === ExitCode.OK || r.code === ExitCode.UNAVAILABLE, `doctor ran (exit ${r.code}: ${r.stderr})`)
  t.match(r.stdout, /"checks"/, 'doctor printed its report')
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  assertCompiled(['win32/security'])

  t.test('a base folder open to Everyone: refused, exit 4, nothing done', async (t) => {
    const base = shortTempDir(t)
    fs.chmodSync(base, 0o777)
    expectRefused(t, await doctorWithCache(t, lab, base), base)
  })

  t.test('a private base: runs, and the folders it made read back user-only', async (t) => {
    const base = shortTempDir(t)
    fs.chmodSync(base, 0o700)
    expectRan(t, await doctorWithCache(t, lab, base))
    const paths = cachePaths(t, base)
    const { sddls, userSid } = await securityOf(t, lab, paths)
    t.equal(sddls.length, paths.length, 'read every path')
    for (const [i, sddl] of sddls.entries()) {
      t.equal(parseSddl(sddl).owner, userSid, `${paths[i]}: owned by the user`)
      t.same(othersIn(sddl, userSid), [], `${paths[i]}: nobody else granted anything (${sddl})`)
    }
  })

  t.test('a relaykit folder others may read is made user-only', async (t) => {
    const base = shortTempDir(t)
    fs.chmodSync(base, 0o700)
    const relaykit = path.join(base, 'relaykit')
    fs.mkdirSync(relaykit, { mode: 0o755 })
    fs.chmodSync(relaykit, 0o755)
    const before = await securityOf(t, lab, [relaykit])
    t.not(othersIn(before.sddls[0] ?? '', before.userSid).length, 0, `control: Everyone may read it first (${before.sddls[0]})`)
    expectRan(t, await doctorWithCache(t, lab, base))
    const after = await securityOf(t, lab, [relaykit])
    t.same(othersIn(after.sddls[0] ?? '', after.userSid), [], `nobody else granted anything now (${after.sddls[0]})`)
  })

  t.test('any cache folder or the file open to Everyone, in a private base: refused, naming it', async (t) => {
    const base = shortTempDir(t)
    fs.chmodSync(base, 0o700)
    expectRan(t, await doctorWithCache(t, lab, base))
    for (const open of cachePaths(t, base)) {
      const mode = fs.statSync(open).mode & 0o777
      fs.chmodSync(open, fs.statSync(open).isDirectory() ? 0o777 : 0o666)
      await t.test(path.relative(base, open), async (t) => expectRefused(t, await doctorWithCache(t, lab, base), open))
      fs.chmodSync(open, mode)
    }
    expectRan(t, await doctorWithCache(t, lab, base))
  })

  const notRoot = process.getuid?.() !== 0 && 'needs root to give a folder to nobody'
  t.test('a relaykit folder owned by another account, in a private base: refused, naming its owner', { skip: notRoot }, async (t) => {
    const base = shortTempDir(t)
    fs.chmodSync(base, 0o700)
    const relaykit = path.join(base, 'relaykit')
    fs.mkdirSync(relaykit, { mode: 0o700 })
    fs.chownSync(relaykit, NOBODY, NOBODY)
    const r = await doctorWithCache(t, lab, base)
    t.equal(r.code, ExitCode.REFUSED, `refused with exit 4 (${r.stderr})`)
    t.match(r.stderr, `${winPath(relaykit)} may be changed by its owner Anonymous`, 'names the folder and its owner (anonymous, as Wine shows nobody)')
    t.equal(r.stdout, '', 'doctor did nothing: no report')
  })
}
