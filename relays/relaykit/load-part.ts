import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type CompiledPart, compilePart, requireBuiltin, requireNextTo } from './part-script.js'
import { COMPRESSED_PARTS } from './route.js'

/**
 * Where the parts of the standalone executable come from: its SEA assets
 * (`parts/<name>.js`, and `parts/<name>.cache` where the build made V8's code
 * cache for the target; `.br` appended for the {@link COMPRESSED_PARTS}), or,
 * run as `node dist/relaykit.cjs`, the files the build wrote next to it
 * (`dist/parts/<name>.cjs`, no cache).
 */

type Sea = typeof import('node:sea')

const suffix = (name: string): string => (COMPRESSED_PARTS.includes(name) ? '.br' : '')
/** The asset key of a part's source. */
export const partAsset = (name: string): string => `parts/${name}.js${suffix(name)}`
/** The asset key of a part's code cache. */
export const cacheAsset = (name: string): string => `parts/${name}.cache${suffix(name)}`

/**
 * An asset's bytes: the executable's own (getRawAsset, no copy), unpacked
 * for a compressed part.
 */
function assetBytes(sea: Sea, name: string, key: string): Buffer {
  const raw = Buffer.from(sea.getRawAsset(key))
  if (!suffix(name)) return raw
  // Loaded here, not imported: the other parts' start never needs zlib.
  const { brotliDecompressSync } = process.getBuiltinModule('node:zlib') as typeof import('node:zlib')
  return brotliDecompressSync(raw)
}

function cacheOf(sea: Sea, name: string): Buffer | undefined {
  try {
    return assetBytes(sea, name, cacheAsset(name))
  } catch (err) {
    // Targets the build could not make a cache for carry none.
    if ((err as { code?: string }).code === 'ERR_SINGLE_EXECUTABLE_APPLICATION_ASSET_NOT_FOUND') return undefined
    throw err
  }
}

/** Loads part `name`; `sea` is node:sea inside the executable, undefined under plain node. */
export function loadPart(name: string, sea: Sea | undefined, mainScript: string): CompiledPart {
  if (sea) return compilePart(name, assetBytes(sea, name, partAsset(name)).toString('utf8'), requireBuiltin, cacheOf(sea, name))
  const file = join(dirname(mainScript), 'parts', `${name}.cjs`)
  return compilePart(name, readFileSync(file, 'utf8'), requireNextTo(file))
}
