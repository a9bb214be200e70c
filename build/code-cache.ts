/**
 * V8 code caches for the parts of each executable.
 *
 * A code cache is valid only for the V8 build, platform and flags that made
 * it, so each target's cache is made by that target's own Node: linux-x64
 * runs here natively, win-x64 runs under Wine when the Windows lab is
 * provisioned (lab/provision.sh). The arm64 targets cannot run here; they
 * carry no cache and compile their part on every start, and the build says
 * so.
 *
 * The producer runs with V8's `--predictable`: without it the cache's bytes
 * differ from run to run (and so would the executables), and a cache made
 * with it is still taken by a Node started without it (the flag does not
 * enter the hash V8 checks; build/parts.test.ts sees it taken).
 */
/** V8 flags of every run that makes a code cache. */
export const CACHE_FLAGS = ['--predictable'] as const

import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { labStatus, runWine, winPath, ensureWineServer } from '../lab/winlab.js'
import { BuildError, runTool } from './run-tool.js'
import type { Target } from './targets.js'
import { REQUEST_IDENTITIES } from '../shared/agent/identities.js'

/** Stdin of the producer: what a part run as a session relays (produce-code-cache.ts). */
export const WARM_UP_INPUT: Buffer = REQUEST_IDENTITIES.bytes

/** How long making one part's cache may take before the build fails instead of waiting. */
const PRODUCER_TIMEOUT_MS = 120_000

/** Writes the producer script (bundled with the part wrapper it must share) into `workDir`. */
export async function writeProducer(root: string, workDir: string): Promise<string> {
  const outfile = join(workDir, 'produce-code-cache.cjs')
  await build({
    absWorkingDir: root,
    entryPoints: ['build/produce-code-cache.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    logLevel: 'warning',
  }).catch((err: unknown) => {
    throw new BuildError(`esbuild could not bundle the code cache producer: ${(err as Error).message}`)
  })
  return outfile
}

/** What {@link makeCodeCaches} needs. */
export interface CodeCacheJob {
  readonly target: Target
  /** The target's pristine Node binary (from the runtime cache). */
  readonly node: string
  readonly producer: string
  readonly partsDir: string
  readonly parts: readonly string[]
  readonly workDir: string
}

/** The outcome: a folder of `<part>.cache` files, or why this target has none. */
export type CodeCaches = { readonly dir: string } | { readonly none: string }

/** Makes the target's code caches where its Node can run here. */
export async function makeCodeCaches(job: CodeCacheJob): Promise<CodeCaches> {
  const { target } = job
  const dir = join(job.workDir, `${target.id}.caches`)
  if (target.id === 'linux-x64') {
    await mkdir(dir, { recursive: true })
    // One process per part: the producer runs the part, which ends the process.
    for (const part of job.parts) {
      await runTool(job.node, [...CACHE_FLAGS, job.producer, job.partsDir, dir, part], {
        env: { PATH: process.env.PATH ?? '' },
        hint: `Making the V8 code cache of ${part} for ${target.id} failed.`,
        input: WARM_UP_INPUT,
        timeoutMs: PRODUCER_TIMEOUT_MS,
      })
    }
    return checked(dir, job.parts, target.id)
  }
  if (target.id !== 'win-x64') return { none: `no ${target.id} machine to run its Node on` }
  const lab = labStatus()
  if (!lab.ready) return { none: `no Wine lab (${lab.reason})` }
  await mkdir(dir, { recursive: true })
  ensureWineServer(lab.env)
  for (const part of job.parts) {
    const args = [...CACHE_FLAGS, winPath(job.producer), winPath(job.partsDir), winPath(dir), part]
    const r = await runWine(lab.env, job.node, args, { timeoutMs: PRODUCER_TIMEOUT_MS })
    if (r.code !== 0) throw new BuildError(`Making the V8 code cache of ${part} for win-x64 under Wine failed (exit ${r.code}):\n${r.stderr}`)
  }
  return checked(dir, job.parts, target.id)
}

/** The folder, once every part's cache is in it (a run that ended some other way wrote none). */
async function checked(dir: string, parts: readonly string[], target: string): Promise<CodeCaches> {
  for (const part of parts) {
    await stat(join(dir, `${part}.cache`)).catch(() => {
      throw new BuildError(`Making the V8 code cache for ${target}: ${part} ended without writing its cache`)
    })
  }
  return { dir }
}
