/**
 * Run by the build in a target's own Node (natively, or node.exe under
 * Wine): compiles each part the way the executable will (part-script.ts)
 * and writes V8's code cache for it.
 *
 *     node produce-code-cache.cjs PARTS_DIR CACHE_DIR NAME...
 *
 * The cache is taken after the part's top level has run, so it holds the
 * functions a start compiles, not only the outer wrapper. Each cache is
 * then handed back to V8 once more: one V8 rejects (wrong flags, wrong
 * source) fails the build instead of shipping a cache that is never used.
 */
import fs from 'node:fs'
import path from 'node:path'
import { compilePart, requireBuiltin } from '../relays/relaykit/part-script.js'

const [partsDir, cacheDir, ...names] = process.argv.slice(2)
if (!partsDir || !cacheDir || names.length === 0) throw new Error('usage: produce-code-cache PARTS_DIR CACHE_DIR NAME...')
for (const name of names) {
  const source = fs.readFileSync(path.join(partsDir, `${name}.cjs`), 'utf8')
  const cache = compilePart(name, source, requireBuiltin).script.createCachedData()
  if (compilePart(name, source, requireBuiltin, cache).cacheRejected) throw new Error(`V8 rejected the code cache it just made for ${name}`)
  fs.writeFileSync(path.join(cacheDir, `${name}.cache`), cache)
}
