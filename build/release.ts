/**
 * `npm run release`: what a user downloads, from the executables `npm run
 * build` made in dist/:
 *
 *     release/relaykit-<version>-<target>.tar.gz   Linux: relaykit + LICENSE
 *     release/relaykit-<version>-<target>.zip      Windows: relaykit.exe + LICENSE
 *     release/SHA256SUMS                           `sha256sum -c SHA256SUMS` checks them
 *     release/relaykit.json                        a Scoop manifest with those hashes
 *
 * Signing: with RELAYKIT_SIGN_PFX (a PKCS#12 code-signing certificate and
 * key) and RELAYKIT_SIGN_PASSWORD, each Windows executable is
 * Authenticode-signed with osslsigncode. It has to happen here, after the
 * SEA injection: injecting changes the file and would break a signature
 * made before (the build strips node.exe's own signature for that reason).
 * RELAYKIT_SIGN_TIMESTAMP names a timestamp server, so the signature
 * outlives the certificate. Without a certificate nothing is signed, and
 * the release says so.
 *
 * RELAYKIT_TARGETS selects targets as for the build; RELAYKIT_RELEASE_DIR
 * moves the output; RELAYKIT_RELEASE_URL is where the archives will be
 * downloaded from (the Scoop manifest's URLs).
 */
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, utimesSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { VERSION } from '../shared/version.js'
import { BuildError, runTool } from './run-tool.js'
import { type Target, selectTargets } from './targets.js'

/** SOURCE_DATE_EPOCH, else 1980-01-01, the earliest time a zip can hold. */
const ARCHIVE_TIME = Number(process.env.SOURCE_DATE_EPOCH ?? 315532800)

/** This file is lib/build/release.js once compiled: the checkout is two folders up. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface Signing {
  readonly pfx: string
  readonly password: string
  readonly timestampUrl: string | undefined
}

export interface ReleaseOptions {
  readonly targets: readonly Target[]
  readonly outDir: string
  readonly baseUrl: string
  readonly signing: Signing | undefined
}

/** One archive written. */
interface Archive {
  readonly target: Target
  readonly file: string
  readonly sha256: string
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

/** The executable as it goes into the archive: copied, and signed when a certificate is configured. */
async function stage(target: Target, dir: string, signing: Signing | undefined, scratch: string): Promise<string> {
  const built = join(ROOT, 'dist', target.output)
  if (!existsSync(built)) throw new BuildError(`dist/${target.output} is missing: run npm run build first (npm run release does)`)
  const exe = join(dir, target.windows ? 'relaykit.exe' : 'relaykit')
  if (target.windows && signing) await sign(built, exe, signing, scratch)
  else copyFileSync(built, exe)
  chmodSync(exe, 0o755)
  copyFileSync(join(ROOT, 'LICENSE'), join(dir, 'LICENSE'))
  // Archives store mtimes: a fixed one keeps them byte-identical from run to run.
  for (const f of [exe, join(dir, 'LICENSE')]) utimesSync(f, ARCHIVE_TIME, ARCHIVE_TIME)
  return exe
}

/** The password goes to osslsigncode in a private file, not on its command line where `ps` shows it. */
async function sign(input: string, output: string, signing: Signing, scratch: string): Promise<void> {
  const passFile = join(scratch, 'sign-password')
  writeFileSync(passFile, signing.password, { mode: 0o600 })
  const ts = signing.timestampUrl ? ['-ts', signing.timestampUrl] : []
  try {
    await runTool('osslsigncode', ['sign', '-pkcs12', signing.pfx, '-readpass', passFile, '-h', 'sha256', '-n', 'relaykit', ...ts, '-in', input, '-out', output])
  } finally {
    rmSync(passFile, { force: true })
  }
}

/** Fixed owner and order, so the same executable gives the same archive layout. */
async function archive(target: Target, dir: string, outDir: string): Promise<string> {
  const base = join(outDir, `relaykit-${VERSION}-${target.id}`)
  if (target.windows) {
    await runTool('zip', ['-X', '-q', '-j', `${base}.zip`, join(dir, 'relaykit.exe'), join(dir, 'LICENSE')])
    return `${base}.zip`
  }
  await runTool('tar', ['--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-czf', `${base}.tar.gz`, '-C', dir, 'relaykit', 'LICENSE'])
  return `${base}.tar.gz`
}

const SCOOP_ARCH: Readonly<Record<string, string>> = { 'win-x64': '64bit', 'win-arm64': 'arm64' }

export function scoopManifest(archives: readonly Archive[], baseUrl: string): string {
  const architecture: Record<string, { url: string; hash: string }> = {}
  for (const a of archives) {
    const arch = SCOOP_ARCH[a.target.id]
    if (arch) architecture[arch] = { url: `${baseUrl}/${a.file.split('/').pop()}`, hash: a.sha256 }
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { description: string; license: string }
  return JSON.stringify({ version: VERSION, description: pkg.description, license: pkg.license, architecture, bin: 'relaykit.exe' }, null, 2) + '\n'
}

export async function release(options: ReleaseOptions, say: (line: string) => void): Promise<void> {
  rmSync(options.outDir, { recursive: true, force: true })
  mkdirSync(options.outDir, { recursive: true })
  const scratch = mkdtempSync(join(tmpdir(), 'relaykit-release-'))
  try {
    const archives: Archive[] = []
    for (const target of options.targets) {
      const dir = join(scratch, target.id)
      mkdirSync(dir)
      await stage(target, dir, options.signing, scratch)
      const file = await archive(target, dir, options.outDir)
      archives.push({ target, file, sha256: sha256(file) })
      say(`  ${file.split('/').pop()}${target.windows ? (options.signing ? '  (signed)' : '  (NOT signed)') : ''}`)
    }
    writeFileSync(join(options.outDir, 'SHA256SUMS'), archives.map((a) => `${a.sha256}  ${a.file.split('/').pop()}\n`).join(''))
    if (archives.some((a) => a.target.windows)) writeFileSync(join(options.outDir, 'relaykit.json'), scoopManifest(archives, options.baseUrl))
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

function signingFrom(env: NodeJS.ProcessEnv): Signing | undefined {
  if (!env.RELAYKIT_SIGN_PFX) return undefined
  if (!existsSync(env.RELAYKIT_SIGN_PFX)) throw new BuildError(`RELAYKIT_SIGN_PFX=${env.RELAYKIT_SIGN_PFX}: no such file`)
  return { pfx: resolve(env.RELAYKIT_SIGN_PFX), password: env.RELAYKIT_SIGN_PASSWORD ?? '', timestampUrl: env.RELAYKIT_SIGN_TIMESTAMP || undefined }
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const targets = selectTargets(env.RELAYKIT_TARGETS)
    const signing = signingFrom(env)
    const outDir = resolve(env.RELAYKIT_RELEASE_DIR || join(ROOT, 'release'))
    const baseUrl = (env.RELAYKIT_RELEASE_URL || `https://github.com/OWNER/relaykit/releases/download/v${VERSION}`).replace(/\/$/, '')
    console.log(`relaykit release ${VERSION}: ${targets.map((t) => t.id).join(', ')} -> ${outDir}`)
    if (!signing && targets.some((t) => t.windows)) {
      console.log('  Windows executables are NOT signed: set RELAYKIT_SIGN_PFX (and RELAYKIT_SIGN_PASSWORD) to sign them')
    }
    if (!env.RELAYKIT_RELEASE_URL) console.log(`  Scoop URLs point at ${baseUrl}: set RELAYKIT_RELEASE_URL to where the archives will be`)
    await release({ targets, outDir, baseUrl, signing }, (line) => console.log(line))
    console.log('  SHA256SUMS, relaykit.json (Scoop)')
    return 0
  } catch (err) {
    const text = err instanceof BuildError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
    process.stderr.write(`relaykit release failed: ${text}\n`)
    return 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main()
}
