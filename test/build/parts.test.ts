/**
 * The built executables load one part per command line, from V8's code
 * cache where the build made one (linux-x64 natively, win-x64 under Wine):
 * RELAYKIT_TRACE_PARTS=1 makes the dispatcher say which part it compiled
 * and whether V8 took the cache.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { builtExecutable, repoRoot } from '../../lab/built.js'
import { partNames } from '../../build/bundle.js'
import { ensureWineServer, requireLab, runWine } from '../../lab/winlab.js'
import { ALL_PART, RELAYS_IN_ALL, SEPARATE_PARTS } from '../../relays/relaykit/route.js'
import { VERSION } from '../../shared/version.js'

const env: NodeJS.ProcessEnv = { ...process.env, RELAYKIT_TRACE_PARTS: '1' }
delete env.NODE_OPTIONS

/** Each relay's `--version`, and the part it must load. */
const cases = [...SEPARATE_PARTS.map((r) => [r, r] as const), ...RELAYS_IN_ALL.map((r) => [r, ALL_PART] as const)]

t.test('linux-x64: one part per relay, from its code cache', async (t) => {
  const exe = builtExecutable('linux-x64')
  for (const [relay, part] of cases) {
    const r = spawnSync(exe, [relay, '--version'], { env, encoding: 'utf8' })
    t.equal(r.status, 0, `${relay} --version: ${r.stderr}`)
    t.equal(r.stdout, `${relay} (relaykit) ${VERSION}\n`)
    t.match(r.stderr, new RegExp(`^relaykit: part ${part}, code cache accepted, loaded in [\\d.]+ ms\\n$`), relay)
  }
  const v = spawnSync(exe, ['--version'], { env, encoding: 'utf8' })
  t.same([v.status, v.stdout, v.stderr], [0, `relaykit ${VERSION}\n`, ''], 'relaykit --version loads no part')
})

t.test('the dispatcher and every part are pure ASCII', async (t) => {
  // One other character makes the asset decode to a two-byte string, slower
  // to decode and to compile on every start (build/bundle.ts: charset).
  const dist = path.join(repoRoot, 'dist')
  const files = ['relaykit.cjs', ...partNames(repoRoot).map((p) => path.join('parts', `${p}.cjs`))]
  for (const file of files) {
    const text = fs.readFileSync(path.join(dist, file), 'latin1')
    const at = text.search(/[^\x00-\x7f]/)
    t.equal(at, -1, `${file}${at < 0 ? '' : `: ${JSON.stringify(text.slice(Math.max(0, at - 60), at + 20))}`}`)
  }
})

const lab = requireLab(t)
if (lab) {
  t.test('win-x64 under Wine: the cache made under Wine is taken', async (t) => {
    ensureWineServer(lab)
    for (const [relay, part] of cases) {
      const r = await runWine(lab, builtExecutable('win-x64'), [relay, '--version'], { t, env: { RELAYKIT_TRACE_PARTS: '1' } })
      t.equal(r.code, 0, `${relay} --version: ${r.stderr}`)
      t.match(r.stderr, new RegExp(`relaykit: part ${part}, code cache accepted`), relay)
    }
  })
}
