/**
 * `npm run release` on the executables in dist/ (linux-x64, win-x64): the
 * archives, SHA256SUMS and the Scoop manifest checked with the real tools
 * (sha256sum, tar, unzip), each unpacked executable run; signing with a
 * certificate made here checked by osslsigncode, and the signed .exe run
 * as a relay under Wine.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { builtExecutable, repoRoot } from '../../lab/built.js'
import { needs } from '../../lab/prerequisites.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { ensureWineServer, requireLab, runWine, spawnWine, uniquePipeName, winPath } from '../../lab/winlab.js'
import { waitFor } from '../fixtures/openssh.js'
import { startWineRelay } from '../fixtures/wine-relay.js'

const TOOLS = ['sha256sum', 'tar', 'zip', 'unzip', 'osslsigncode', 'openssl']
const VERSION = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

/** lib/build/release.js as `npm run release` runs it after the build. */
function release(out: string, env: NodeJS.ProcessEnv = {}) {
  const script = path.join(repoRoot, 'lib', 'build', 'release.js')
  if (!fs.existsSync(script) || fs.statSync(script).mtimeMs < fs.statSync(path.join(repoRoot, 'build', 'release.ts')).mtimeMs) {
    throw new Error('lib/build/release.js is missing or older than build/release.ts: run `npx tsc -p tsconfig.json`')
  }
  builtExecutable('linux-x64')
  builtExecutable('win-x64')
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RELAYKIT_') && k !== 'NODE_OPTIONS'))
  return sh(process.execPath, [script], { env: { ...clean, RELAYKIT_TARGETS: 'linux-x64,win-x64', RELAYKIT_RELEASE_DIR: out, ...env } })
}

function unpack(t: Test, archive: string): string {
  const dir = fs.mkdtempSync(path.join(shortTempDir(t), 'x-'))
  const r = archive.endsWith('.zip') ? sh('unzip', ['-q', archive, '-d', dir]) : sh('tar', ['-xzf', archive, '-C', dir])
  t.equal(r.code, 0, r.out)
  return dir
}

/** A self-signed code-signing certificate, as a .pfx with a password, and its PEM for verification. */
function certificate(dir: string): { pfx: string; pem: string; password: string } {
  const key = path.join(dir, 'key.pem')
  const pem = path.join(dir, 'cert.pem')
  const pfx = path.join(dir, 'cert.pfx')
  const password = 'test secret'
  const a = sh('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', pem, '-days', '2', '-subj', '/CN=relaykit test signer', '-addext', 'extendedKeyUsage=codeSigning'])
  if (a.code !== 0) throw new Error(a.out)
  const b = sh('openssl', ['pkcs12', '-export', '-inkey', key, '-in', pem, '-out', pfx, '-passout', `pass:${password}`])
  if (b.code !== 0) throw new Error(b.out)
  return { pfx, pem, password }
}

const lab = requireLab(t)

t.test('without a certificate: archives, SHA256SUMS, Scoop manifest; nothing signed, and it says so', needs(t, TOOLS), async (t) => {
  const out = path.join(shortTempDir(t), 'release')
  const r = release(out)
  t.equal(r.code, 0, r.out)
  t.match(r.out, 'Windows executables are NOT signed')
  const files = fs.readdirSync(out).sort()
  t.same(files, ['SHA256SUMS', `relaykit-${VERSION}-linux-x64.tar.gz`, `relaykit-${VERSION}-win-x64.zip`, 'relaykit.json'])
  const check = sh('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out })
  t.equal(check.code, 0, check.out)
  t.equal(check.out.match(/: OK$/gm)?.length, 2, 'both archives listed and matching')

  t.same(sh('tar', ['-tzf', path.join(out, `relaykit-${VERSION}-linux-x64.tar.gz`)]).out.split('\n').filter(Boolean).sort(), ['LICENSE', 'relaykit'])
  const linux = unpack(t, path.join(out, `relaykit-${VERSION}-linux-x64.tar.gz`))
  t.equal(fs.readFileSync(path.join(linux, 'LICENSE'), 'utf8'), fs.readFileSync(path.join(repoRoot, 'LICENSE'), 'utf8'))
  const v = sh('/usr/bin/env', ['-u', 'NODE_OPTIONS', path.join(linux, 'relaykit'), '--version'])
  t.equal(v.out.trim(), `relaykit ${VERSION}`, 'the unpacked Linux executable runs')

  const zip = path.join(out, `relaykit-${VERSION}-win-x64.zip`)
  const win = unpack(t, zip)
  t.same(fs.readdirSync(win).sort(), ['LICENSE', 'relaykit.exe'])
  const unsigned = sh('osslsigncode', ['verify', '-in', path.join(win, 'relaykit.exe')])
  t.not(unsigned.code, 0, 'no signature on the .exe')
  if (lab) {
    ensureWineServer(lab)
    const w = await runWine(lab, path.join(win, 'relaykit.exe'), ['--version'], { t })
    t.equal(w.stdout.trim(), `relaykit ${VERSION}`, 'the unpacked Windows executable runs (Wine)')
  }

  const againDir = path.join(shortTempDir(t), 'again')
  const again = release(againDir)
  t.equal(again.code, 0, again.out)
  t.equal(fs.readFileSync(path.join(againDir, 'SHA256SUMS'), 'utf8'), fs.readFileSync(path.join(out, 'SHA256SUMS'), 'utf8'), 'a second release gives byte-identical archives')

  const scoop = JSON.parse(fs.readFileSync(path.join(out, 'relaykit.json'), 'utf8')) as { version: string; bin: string; architecture: Record<string, { url: string; hash: string }> }
  t.equal(scoop.version, VERSION)
  t.equal(scoop.bin, 'relaykit.exe')
  t.equal(scoop.architecture['64bit']?.hash, createHash('sha256').update(fs.readFileSync(zip)).digest('hex'), 'Scoop hash = the zip\'s')
  t.match(scoop.architecture['64bit']?.url, new RegExp(`/relaykit-${VERSION}-win-x64\\.zip$`))
})

t.test('with RELAYKIT_SIGN_PFX: osslsigncode verify accepts the .exe, and the signed .exe still relays under Wine', needs(t, TOOLS), async (t) => {
  const dir = shortTempDir(t)
  const cert = certificate(dir)
  const out = path.join(dir, 'release')
  const r = release(out, { RELAYKIT_SIGN_PFX: cert.pfx, RELAYKIT_SIGN_PASSWORD: cert.password })
  t.equal(r.code, 0, r.out)
  t.notMatch(r.out, 'NOT signed')
  t.match(r.out, 'win-x64.zip  (signed)')
  t.equal(sh('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out }).code, 0)
  const exe = path.join(unpack(t, path.join(out, `relaykit-${VERSION}-win-x64.zip`)), 'relaykit.exe')
  const verify = sh('osslsigncode', ['verify', '-CAfile', cert.pem, '-in', exe])
  t.equal(verify.code, 0, verify.out)
  t.match(verify.out, /Signature verification: ok/)
  t.match(verify.out, /relaykit test signer/)
  const wrong = release(path.join(dir, 'wrong'), { RELAYKIT_SIGN_PFX: cert.pfx, RELAYKIT_SIGN_PASSWORD: 'not it' })
  t.equal(wrong.code, 1, 'a wrong password fails the release')
  t.match(wrong.out, /relaykit release failed: osslsigncode sign/)
  t.notMatch(wrong.out, 'not it', 'and the password is not printed')

  if (!lab) return
  ensureWineServer(lab)
  const pipe = uniquePipeName('rel')
  const server = spawnWine(lab, lab.nodeExe, [winPath(path.join(repoRoot, 'lab', 'fixtures', 'echo-pipe-server.cjs'))], { stdio: ['ignore', 'pipe', 'pipe'], env: { PIPE: pipe, MODE: 'echo' }, t })
  let ready = ''
  server.stdout?.on('data', (c: Buffer) => (ready += c.toString()))
  await waitFor(() => ready.includes('ready'), 'pipe server', 30_000)
  const relay = startWineRelay(t, lab, ['npiperelay', '-ei', pipe.replace(/\\/g, '/')], { exe })
  relay.child.stdin?.write('signed hello')
  await new Promise((res) => relay.child.stdout?.once('data', res))
  relay.child.stdin?.end()
  const done = await relay.done
  t.equal(done.code, 0, done.stderr)
  t.equal(done.stdout.toString(), 'signed hello', 'the signed relaykit.exe relays bytes to a named pipe under Wine')
})
