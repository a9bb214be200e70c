/**
 * The executables the build can produce, and the pinned Node runtime each one
 * is made from.
 *
 * The runtimes come from npm (`node-<os>-<arch>`) because the npm registry is
 * the one source reachable from every machine that builds relaykit. The npm
 * registry never lets a version be republished, but the integrities are pinned
 * here anyway so that a mirror, a proxy or a poisoned npm cache cannot slip a
 * different binary into a release.
 */

import { BuildError } from './run-tool.js'

/** The Node version of every target runtime, and of the blob generator. */
export const NODE_VERSION = '22.23.2'

/** One executable the build can produce. */
export interface Target {
  /** Name used in `RELAYKIT_TARGETS` and in the output file name. */
  readonly id: TargetId
  /** npm package holding the Node runtime for this target. */
  readonly npmPackage: string
  /** sha512 of that package's tarball, as `npm view <pkg>@<ver> dist.integrity` prints it. */
  readonly integrity: string
  /** Path of the Node binary inside the tarball. */
  readonly nodeInTarball: string
  /** koffi's name for the platform (`process.platform` + `_` + arch). */
  readonly koffiTriplet: string
  /** File name of the executable under `dist/`. */
  readonly output: string
  /** PE targets need their Authenticode signature removed before injection. */
  readonly windows: boolean
}

/** The targets relaykit ships, in the order they are built. */
export const TARGET_IDS = ['linux-x64', 'linux-arm64', 'win-x64', 'win-arm64'] as const

/** One of {@link TARGET_IDS}. */
export type TargetId = (typeof TARGET_IDS)[number]

const INTEGRITY: Readonly<Record<TargetId, string>> = {
  'linux-x64':
    'sha512-lfi+07N7Y+NCz+WrWIu+VmHkXuTLuDv6JLpCAH5n+MvZeG4x9SoSGVJ+h8lUJwJKXGwZUJCdDXo6zZoLw16RGA==',
  'linux-arm64':
    'sha512-q/iQECqcUb0U0gzWPRylQbhZhvy36iRBRcxwv9jl3GalPHcQrwIce2nymh9V7LwlocRRpCspu0P3O7vJpHCQOQ==',
  'win-x64':
    'sha512-xKmY4NKtdOtMmesJb8WZax5wsHybu0SeqIAVuPWTy7aBr9wOCI5YxyxxzfbjEzPcOq2rQ+RURlxNTGFWYjc4Bw==',
  'win-arm64':
    'sha512-YwbsPzC+4FSmgKOabVK5iaGRj1i9eNJbDC/22UunoSwWQv/rm2z/At1XaB03sQb98PXOjPKsatLXkoT7fZEAcA==',
}

function makeTarget(id: TargetId): Target {
  const [os, arch] = id.split('-') as ['linux' | 'win', string]
  const windows = os === 'win'
  return {
    id,
    npmPackage: `node-${id}`,
    integrity: INTEGRITY[id],
    nodeInTarball: windows ? 'package/bin/node.exe' : 'package/bin/node',
    koffiTriplet: `${windows ? 'win32' : 'linux'}_${arch}`,
    output: `relaykit-${id}${windows ? '.exe' : ''}`,
    windows,
  }
}

/** Every target, keyed by id. */
export const TARGETS: ReadonlyMap<TargetId, Target> = new Map(
  TARGET_IDS.map((id) => [id, makeTarget(id)]),
)

/** The target whose Node runs `--experimental-sea-config` on the build host. */
export const BLOB_GENERATOR: Target = makeTarget('linux-x64')

function isTargetId(name: string): name is TargetId {
  return (TARGET_IDS as readonly string[]).includes(name)
}

/**
 * The targets selected by `RELAYKIT_TARGETS` (comma-separated ids), or all of
 * them when it is unset or empty.
 *
 * @throws BuildError naming the unknown id, so a typo does not silently build nothing.
 */
export function selectTargets(spec: string | undefined): Target[] {
  const names = (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  if (names.length === 0) return [...TARGETS.values()]
  const unknown = names.filter((n) => !isTargetId(n))
  if (unknown.length > 0) {
    throw new BuildError(
      `RELAYKIT_TARGETS: unknown target ${unknown.join(', ')} (known: ${TARGET_IDS.join(', ')})`,
    )
  }
  // Keep the canonical order and drop duplicates, so output order is stable.
  return TARGET_IDS.filter((id) => names.includes(id)).map((id) => makeTarget(id))
}
