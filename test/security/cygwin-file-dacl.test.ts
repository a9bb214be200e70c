/**
 * The Cygwin socket file on Windows holds the port and the secret: it must
 * be private from its first byte, whatever its folder grants. Under Wine:
 * createPrivateFile's descriptor is read back (owner the user, one ACE for
 * the user, protected), beside a file Node's fs makes in the same folder
 * (what the listener used to do); then the built relaykit-win-x64.exe
 * `relay-listen --cygwin` writes its file and that file's descriptor is
 * read back the same way. Wine has one user: another user being kept out is
 * shown by the DACL, not by trying; and Wine derives a file's DACL from its
 * Unix mode (see expectUserOnly), so what it shows is "nobody else granted",
 * not the protected flag.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { builtExecutable, assertCompiled } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, requireLab, runWine, spawnWine, winPath } from '../../lab/winlab.js'
import { parseCygwinSocketFile } from '../../shared/channels/cygwin/format.js'
import { parseSddl } from '../../shared/win32/security.js'
import { waitFor } from '../fixtures/openssh.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const host = path.join(root, 'test', 'shared', 'win32', 'fixtures', 'private-file-host.mjs')

/** GENERIC_ALL, or FILE_ALL_ACCESS as the system may store it. */
const FULL = /^(GA|FA|0x1f01ff)$/

/** The report of private-file-host.mjs for FILE and PLAIN in `dir`. */
async function hostReport(t: Test, lab: LabEnv, dir: string, file = path.join(dir, 'made-private')): Promise<Record<string, string>> {
  const r = await runWine(lab, lab.nodeExe, [winPath(host)], {
    env: { FILE: winPath(file), PLAIN: winPath(path.join(dir, 'made-by-fs')) },
    t,
  })
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Record<string, string>
}

/**
 * Wine keeps no descriptor for a file: it maps the DACL it is given onto the
 * Unix mode bits and reads back one made from them (owner, SYSTEM, and
 * Everyone for the "other" bits), so the protected flag cannot be read back
 * here; who is granted what can. Real Windows stores the DACL as given
 * (`O:<user>D:P(A;;FA;;;<user>)`).
 */
function expectUserOnly(t: Test, file: string, sddl: string | undefined, userSid: string | undefined, what: string): void {
  const parsed = parseSddl(sddl ?? '')
  t.equal(parsed.owner, userSid, `${what}: owned by the user`)
  const grantees = parsed.aces.map((ace) => ace.split(';'))
  const others = grantees.filter(([, , , , , sid]) => sid !== userSid && sid !== 'SY')
  t.same(others.map((a) => a.join(';')), [], `${what}: nobody but the user (and SYSTEM) is granted anything (${sddl})`)
  const mine = grantees.find(([kind, , , , , sid]) => kind === 'A' && sid === userSid)
  t.match(mine?.[2] ?? '', FULL, `${what}: the user has full access`)
  // Wine's own mapping gives the user's group r-x; "others" is every other user.
  t.equal(fs.statSync(file).mode & 0o007, 0, `${what}: on the Linux side, no bits for others`)
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  t.test('createPrivateFile: the descriptor as stored grants the user alone', async (t) => {
    assertCompiled(['win32/private-file', 'win32/security', 'win32/errors'])
    const dir = shortTempDir(t)
    fs.chmodSync(dir, 0o777) // a folder that grants everyone: Wine maps modes onto the folder's DACL
    const out = await hostReport(t, lab, dir)
    t.equal(out.error, undefined, `the host reported no error (${String(out.error)})`)
    expectUserOnly(t, path.join(dir, 'made-private'), out.private, out.userSid, 'createPrivateFile')
    t.equal(out.again, 'EEXIST', 'an existing file is not replaced, and says EEXIST')
    t.match(out.plain, /\(A;;[^;]*;;;WD\)/, `the check can tell: a file fs makes there grants Everyone (${out.plain})`)
  })

  t.test('relay-listen.exe --cygwin writes its socket file for the user alone, and warns of a shared folder', async (t) => {
    for (const mode of [0o777, 0o700]) {
      const dir = shortTempDir(t)
      fs.chmodSync(dir, mode) // Wine derives the folder's DACL from this: Everyone, or the user alone
      const file = path.join(dir, 'agent.sock')
      const errFile = path.join(shortTempDir(t), 'stderr')
      const stderr = fs.openSync(errFile, 'w')
      const listener = spawnWine(lab, builtExecutable('win-x64'), ['relay-listen', '--cygwin', winPath(file), '--', 'pageant-relay'], { stdio: ['ignore', 'ignore', stderr], t })
      fs.closeSync(stderr)
      t.teardown(() => void listener.kill('SIGKILL'))
      await waitFor(() => fs.existsSync(file) && fs.statSync(file).size > 0, 'the socket file', 60_000)
      t.ok(parseCygwinSocketFile(fs.readFileSync(file), file).port > 0, 'a Cygwin socket file')
      const out = await hostReport(t, lab, dir, path.join(dir, 'unused'))
      t.equal(out.error, undefined, `the host reported no error (${String(out.error)})`)
      const r = await runWine(lab, lab.nodeExe, ['--input-type=module', '-e', sddlOf(file)], { t })
      expectUserOnly(t, file, r.stdout.trim(), out.userSid, `in a ${mode.toString(8)} folder, the listener's socket file`)
      const said = fs.readFileSync(errFile, 'utf8')
      if (mode === 0o777) t.match(said, /warning: .* also lets Everyone in, who could replace the socket file/, 'a shared folder is warned of')
      else t.equal(said, '', 'a private folder: no warning')
      listener.kill('SIGKILL')
    }
  })
}

/** A node.exe script that prints the stored SDDL of `file`. */
function sddlOf(file: string): string {
  const security = winPath(path.join(root, 'lib', 'shared', 'win32', 'security.js')).replace(/\\/g, '/')
  return `import fs from 'node:fs'; const m = await import('file:///${security}'); fs.writeSync(1, await m.fileSecuritySddl(${JSON.stringify(winPath(file))}) + '\\n')`
}
