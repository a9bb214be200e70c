/**
 * The per-user cache the single executable loads koffi's native module from
 * (build/sea-native-koffi.cts), apart from the SEA: `load` stands in for
 * process.dlopen and reads what it is given. A second uid (nobody) plants
 * what another local user could, where the test runs as root.
 */
import { createHash, randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import cache from '../../build/sea-native-koffi.cjs'

const { loadFromCache } = cache as typeof import('../../build/sea-native-koffi.cjs')
const NOBODY = 65534
const root = process.platform === 'linux' && process.getuid?.() === 0
const linux = process.platform === 'linux'

const library = randomBytes(4096)
const sha256 = createHash('sha256').update(library).digest('hex')

function baseDir(t: Test, mode: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-koffi-'))
  fs.chmodSync(dir, mode)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function asNobody(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { uid: NOBODY, gid: NOBODY })
  if (r.status !== 0) throw new Error(`${cmd} as nobody failed: ${r.stderr?.toString()}`)
}

t.test('loads exactly what it hashed, even if the path is swapped before the load', { skip: !linux && '/proc/self/fd is Linux' }, async (t) => {
  const base = baseDir(t, 0o700)
  const file = path.join(base, 'relaykit', 'native', sha256, 'koffi.node')
  const loaded = loadFromCache(base, sha256, () => library, (given) => {
    // The swap the issue describes: another library put in place between the hash and the load.
    const other = `${file}.other`
    fs.writeFileSync(other, randomBytes(4096))
    fs.renameSync(other, file)
    return fs.readFileSync(given)
  }) as Buffer
  t.ok(loaded.equals(library), 'what was loaded is what was hashed, not what the path holds now')
  t.equal(fs.statSync(path.join(base, 'relaykit')).mode & 0o777, 0o700)
})

t.test('a cache file that is a symbolic link is not loaded', { skip: !linux && '/proc/self/fd is Linux' }, async (t) => {
  const base = baseDir(t, 0o700)
  loadFromCache(base, sha256, () => library, () => undefined)
  const file = path.join(base, 'relaykit', 'native', sha256, 'koffi.node')
  const elsewhere = path.join(base, 'elsewhere.node')
  fs.renameSync(file, elsewhere)
  fs.symlinkSync(elsewhere, file)
  t.throws(() => loadFromCache(base, sha256, () => library, () => t.fail('loaded through a link')), { code: 'ELOOP' })
})

t.test('a relaykit folder another user planted as a link in a shared base is refused', { skip: !root && 'needs root to act as a second uid' }, async (t) => {
  const base = baseDir(t, 0o1777) // XDG_CACHE_HOME=/tmp
  const theirs = baseDir(t, 0o777)
  asNobody('ln', ['-s', theirs, path.join(base, 'relaykit')])
  t.throws(() => loadFromCache(base, sha256, () => library, () => t.fail('loaded')), /relaykit is a symbolic link/)
})

t.test('a base folder others may write to (not sticky) or another user owns is refused', { skip: !root && 'needs root to act as a second uid' }, async (t) => {
  const open = baseDir(t, 0o777)
  t.throws(() => loadFromCache(open, sha256, () => library, () => t.fail('loaded')), /is writable by other users and not sticky/)
  t.notOk(fs.existsSync(path.join(open, 'relaykit')), 'nothing created there')
  const theirs = baseDir(t, 0o755)
  fs.chownSync(theirs, NOBODY, NOBODY)
  t.throws(() => loadFromCache(theirs, sha256, () => library, () => t.fail('loaded')), /belongs to another user/)
  const sticky = baseDir(t, 0o1777)
  t.ok(loadFromCache(sticky, sha256, () => library, () => 'ok') === 'ok', 'a sticky shared base like /tmp is fine: our folder in it cannot be renamed away')
})

t.test("the real koffi.node loads through /proc/self/fd with process.dlopen", { skip: !(linux && process.arch === 'x64') && 'linux x64 addon' }, async (t) => {
  const addon = fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'node_modules', 'koffi', 'build', 'koffi', 'linux_x64', 'koffi.node'))
  const hash = createHash('sha256').update(addon).digest('hex')
  let given = ''
  const exports = loadFromCache(baseDir(t, 0o700), hash, () => addon, (file) => {
    given = file
    const module = { exports: {} as Record<string, unknown> }
    process.dlopen(module, file)
    return module.exports
  }) as Record<string, unknown>
  t.match(given, /^\/proc\/self\/fd\/\d+$/)
  t.equal(typeof exports.load, 'function', 'koffi.node answered with its exports')
})
