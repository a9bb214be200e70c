/**
 * `npm pack` from a checkout that was never compiled (no lib/): prepack
 * compiles it, the tarball holds the JavaScript every bin entry points at,
 * no TypeScript source, and each bin runs with the Node running this test
 * (the engines floor, Node 20, on the lab machines).
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { repoRoot } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; engines: { node: string } }

t.test('npm pack compiles first, and every bin of the packed package runs', async (t) => {
  const dir = shortTempDir(t)
  const checkout = path.join(dir, 'checkout')
  fs.mkdirSync(checkout)
  for (const entry of ['package.json', 'tsconfig.json', 'LICENSE', 'README.md', 'relays', 'shared', 'build', 'bench', 'lab']) {
    fs.cpSync(path.join(repoRoot, entry), path.join(checkout, entry), { recursive: true })
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(checkout, 'node_modules'))
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'NODE_OPTIONS'))
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: checkout, env, encoding: 'utf8' })
  t.equal(pack.status, 0, pack.stderr)
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[]
  const files = (info?.files ?? []).map((f) => f.path)
  for (const [name, bin] of Object.entries(pkg.bin)) t.ok(files.includes(bin), `${name}: ${bin} is in the package`)
  t.same(files.filter((f) => f.endsWith('.ts')), [], 'no TypeScript source')
  t.ok(files.includes('LICENSE'))

  const unpacked = path.join(dir, 'unpacked')
  fs.mkdirSync(unpacked)
  t.equal(spawnSync('tar', ['-xzf', path.join(dir, info?.filename ?? ''), '-C', unpacked]).status, 0)
  const installed = path.join(unpacked, 'package')
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(installed, 'node_modules')) // what npm install would add
  t.ok(Number(process.versions.node.split('.')[0]) >= 20, `Node ${process.versions.node} meets engines ${pkg.engines.node}`)
  for (const [name, bin] of Object.entries(pkg.bin)) {
    const file = path.join(installed, bin)
    t.match(fs.readFileSync(file, 'utf8'), /^#!\/usr\/bin\/env node\n/, `${name}: a node script`)
    const r = spawnSync(process.execPath, [file, '--version'], { env, encoding: 'utf8' })
    t.equal(r.status, 0, `${name} --version: ${r.stderr}`)
    t.match(r.stdout, pkg.version, `${name} --version prints the version (Node ${process.versions.node})`)
  }
})
