/**
 * The built executables load one part per command line, from V8's code
 * cache where the build made one (linux-x64 natively, win-x64 under Wine):
 * RELAYKIT_TRACE_PARTS=1 makes the dispatcher say which part it compiled
 * and whether V8 took the cache.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { builtExecutable, repoRoot } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { partNames } from '../../build/bundle.js'
import { ensureWineServer, requireLab, runWine } from '../../lab/winlab.js'
import { koffiDir } from '../../build/koffi-sea-plugin.js'
import { ALL_PART, COMPRESSED_PARTS, RELAYS_IN_ALL, SEPARATE_PARTS } from '../../relays/relaykit/route.js'
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

t.test('the executables carry koffi and the parts started once per session compressed, the others as they are', async (t) => {
  // Wine reads an executable's whole image at every start: each byte carried
  // as it is counts in every relay's memory there (issue 15).
  const dist = path.join(repoRoot, 'dist')
  // Carried as it is: eight slices spread over the file are all in the
  // executable (one alone may be padding or code the runtime shares).
  const slices = (file: string) => {
    const bytes = fs.readFileSync(file)
    return Array.from({ length: 8 }, (_, i) => bytes.subarray(((i + 0.5) * bytes.length) / 8, ((i + 0.5) * bytes.length) / 8 + 256))
  }
  for (const [target, triplet] of [['linux-x64', 'linux_x64'], ['win-x64', 'win32_x64']] as const) {
    const exe = fs.readFileSync(builtExecutable(target))
    const carried = (file: string) => slices(file).every((slice) => exe.includes(slice))
    t.notOk(carried(path.join(koffiDir(repoRoot), 'build', 'koffi', triplet, 'koffi.node')), `${target}: koffi.node`)
    for (const part of partNames(repoRoot)) {
      const compressed = COMPRESSED_PARTS.includes(part)
      t.equal(carried(path.join(dist, 'parts', `${part}.cjs`)), !compressed, `${target}: part ${part} ${compressed ? 'compressed' : 'as it is'}`)
    }
  }
})

/**
 * What a part asks of Node, run as the executable runs it (part-script.ts,
 * here without the code cache) with `args` and fd 1 on `stdout`: the
 * builtins it requires (the lazy ones on first use) and the functions of
 * `fs` it reads. Not process.moduleLoadList: a child of tap has net and the
 * fs streams loaded before any part runs.
 */
function partUses(part: string, args: string[], stdout: 'ignore' | 'pipe' | number): string[] {
  const script = `
    const fs = require('node:fs')
    import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'lib', 'relays', 'relaykit', 'part-script.js')).href)}).then(({ compilePart, requireBuiltin }) => {
      const used = []
      process.on('exit', () => fs.writeSync(2, JSON.stringify(used)))
      const recording = (id) => {
        const name = id.replace(/^node:/, '')
        used.push(name)
        const real = requireBuiltin(id)
        return name !== 'fs' ? real : new Proxy(real, { get: (m, key) => (used.push('fs.' + String(key)), m[key]) })
      }
      const source = fs.readFileSync(${JSON.stringify(path.join(repoRoot, 'dist', 'parts', `${part}.cjs`))}, 'utf8')
      compilePart(${JSON.stringify(part)}, source, recording).exports.run(${JSON.stringify(part)}, ${JSON.stringify(args)})
    })`
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', stdio: ['ignore', stdout, 'pipe'] })
  return JSON.parse(r.stderr) as string[]
}

t.test('uds-relay --version needs no terminal, socket or fs stream code when stdout is /dev/null or a file', async (t) => {
  // Each costs milliseconds of every start (issue 15); a pipe does need net.
  const fd = fs.openSync(path.join(shortTempDir(t), 'out'), 'w')
  t.teardown(() => fs.closeSync(fd))
  const heavy = ['net', 'tty', 'fs.createWriteStream']
  for (const [what, stdout] of [['/dev/null', 'ignore'], ['a file', fd]] as const) {
    const used = partUses('uds-relay', ['--version'], stdout)
    t.same(used.filter((m) => heavy.includes(m)), [], `${what}: none of ${heavy.join(', ')}`)
    t.ok(used.includes('fs.writeSync'), `${what}: the version line written straight to fd 1`)
  }
  t.ok(partUses('uds-relay', ['--version'], 'pipe').includes('net'), 'a pipe needs net: the record is real')
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
