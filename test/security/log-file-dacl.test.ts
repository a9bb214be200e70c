/**
 * `--logfile` on Windows: the log says when and to which agent you
 * connected, so it must be as private as the other channels' files. Under
 * Wine, the built relaykit-win-x64.exe `pageant-relay --logfile` is run in a
 * folder that grants everyone access, and the stored descriptor of its log
 * is read back: a new file, and an existing one Node's fs made there (which
 * grants Everyone read before the run: the control that the check can
 * tell). A log file owned by another account is refused: Wine shows a file
 * that another Unix uid (nobody, where the test runs as root) owns as
 * owned by the anonymous SID, so that refusal is real here. Wine has one
 * user: other users being kept out is shown by the DACL, not by trying; and
 * Wine derives a file's DACL from its Unix mode, so what it shows is
 * "nobody else granted", not the protected flag (see expectUserOnly).
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { assertCompiled, builtExecutable } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, requireLab, runWine, winPath } from '../../lab/winlab.js'
import { parseSddl } from '../../shared/win32/security.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const NOBODY = 65534

/** GENERIC_ALL, or FILE_ALL_ACCESS as the system may store it. */
const FULL = /^(GA|FA|0x1f01ff)$/

/** The stored SDDL of `file` and the current user's SID, read by node.exe under Wine. */
async function security(t: Test, lab: LabEnv, file: string): Promise<{ sddl: string; userSid: string }> {
  const module = winPath(path.join(root, 'lib', 'shared', 'win32', 'security.js')).replace(/\\/g, '/')
  const script = `import fs from 'node:fs'; const m = await import('file:///${module}');
fs.writeSync(1, JSON.stringify({ sddl: await m.fileSecuritySddl(${JSON.stringify(winPath(file))}), userSid: await m.currentUserSid() }) + '\\n')`
  const r = await runWine(lab, lab.nodeExe, ['--input-type=module', '-e', script], { t })
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as { sddl: string; userSid: string }
}

/** Who besides the user and SYSTEM the SDDL grants anything, as ACE strings. */
function othersIn(sddl: string, userSid: string): string[] {
  return parseSddl(sddl).aces.filter((ace) => ![userSid, 'SY'].includes(ace.split(';')[5] ?? '')).map(String)
}

function expectUserOnly(t: Test, file: string, got: { sddl: string; userSid: string }, what: string): void {
  const parsed = parseSddl(got.sddl)
  t.equal(parsed.owner, got.userSid, `${what}: owned by the user`)
  t.same(othersIn(got.sddl, got.userSid), [], `${what}: nobody but the user (and SYSTEM) is granted anything (${got.sddl})`)
  const mine = parsed.aces.map((ace) => ace.split(';')).find(([kind, , , , , sid]) => kind === 'A' && sid === got.userSid)
  t.match(mine?.[2] ?? '', FULL, `${what}: the user has full access`)
  t.equal(fs.statSync(file).mode & 0o007, 0, `${what}: on the Linux side, no bits for others`)
}

/** SSH_AGENTC_REQUEST_IDENTITIES (11), one frame: whether or not a Pageant runs, -v logs it. */
const REQUEST_IDENTITIES = Buffer.from([0, 0, 0, 1, 11]).toString('latin1')

/** Run the built pageant-relay with `--logfile file` and one request on stdin. */
function relayWithLog(t: Test, lab: LabEnv, file: string) {
  return runWine(lab, builtExecutable('win-x64'), ['pageant-relay', '-v', '--logfile', winPath(file)], { t, input: REQUEST_IDENTITIES })
}

/** A folder every account may use: Wine derives its DACL (Everyone) from the mode. */
function sharedFolder(t: Test): string {
  const dir = shortTempDir(t)
  fs.chmodSync(dir, 0o777)
  return dir
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  assertCompiled(['log', 'win32/security', 'win32/private-file'])

  t.test('a new log file is created for the user alone', async (t) => {
    const file = path.join(sharedFolder(t), 'relay.log')
    const r = await relayWithLog(t, lab, file)
    t.ok(r.code === 0 || r.code === 3, `pageant-relay ran, with or without a Pageant (exit ${r.code}: ${r.stderr})`)
    t.ok(fs.statSync(file).size > 0, 'the -v lines went to the log')
    expectUserOnly(t, file, await security(t, lab, file), 'a new log')
  })

  t.test('an existing log file of ours that others could read is made private, and appended to', async (t) => {
    const file = path.join(sharedFolder(t), 'relay.log')
    fs.writeFileSync(file, 'old\n')
    fs.chmodSync(file, 0o644)
    const before = await security(t, lab, file)
    t.not(othersIn(before.sddl, before.userSid), [], `the check can tell: before the run, the file grants others (${before.sddl})`)
    const r = await relayWithLog(t, lab, file)
    t.ok(r.code === 0 || r.code === 3, `pageant-relay ran, with or without a Pageant (exit ${r.code}: ${r.stderr})`)
    t.match(fs.readFileSync(file, 'utf8'), /^old\n./, 'appended to, not replaced')
    expectUserOnly(t, file, await security(t, lab, file), 'an existing log')
  })

  t.test('a log file owned by another account is refused and left as it was', { skip: process.getuid?.() !== 0 && 'needs root to give a file to a second uid' }, async (t) => {
    const file = path.join(sharedFolder(t), 'relay.log')
    fs.writeFileSync(file, 'theirs\n')
    fs.chmodSync(file, 0o644)
    fs.chownSync(file, NOBODY, NOBODY)
    const r = await relayWithLog(t, lab, file)
    t.equal(r.code, 1, 'exit 1: an I/O failure')
    t.match(r.stderr, /the log file .*relay\.log belongs to \S+, not to you \(S-1-5-[-0-9]+\): use a file of your own/)
    t.equal(fs.readFileSync(file, 'utf8'), 'theirs\n', 'nothing written')
    t.equal(fs.statSync(file).mode & 0o777, 0o644, 'its permissions unchanged')
  })
}
