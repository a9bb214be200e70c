/**
 * Run by the build in a target's own Node (natively, or node.exe under
 * Wine): compiles one part the way the executable will (part-script.ts),
 * runs it, and writes V8's code cache for it.
 *
 *     node produce-code-cache.cjs PARTS_DIR CACHE_DIR NAME
 *
 * The part runs its `--version` to the end (one part per process: a part's
 * run ends the process) and the cache is taken as the process exits, so it
 * holds the functions a start compiles (the part's top level, then stdio,
 * the command-line parser, the exit) and not only the outer wrapper: what
 * V8 finds in the cache it does not compile again at every start. The cache
 * is then handed back to V8 once more: one V8 rejects (wrong flags, wrong
 * source) fails the build instead of shipping a cache that is never used.
 */
import fs from 'node:fs'
import path from 'node:path'
import { compilePart, requireBuiltin } from '../relays/relaykit/part-script.js'
import { ALL_PART } from '../relays/relaykit/route.js'

const [partsDir, cacheDir, name, ...extra] = process.argv.slice(2)
if (!partsDir || !cacheDir || !name || extra.length > 0) throw new Error('usage: produce-code-cache PARTS_DIR CACHE_DIR NAME')
const source = fs.readFileSync(path.join(partsDir, `${name}.cjs`), 'utf8')
const part = compilePart(name, source, requireBuiltin)
const exit = process.exit.bind(process)
// The part's run exits through process.exit (runStandalone), also on
// Windows for `--version`: nothing loaded koffi and stdin was never opened.
process.exit = ((code?: number) => {
  const cache = part.script.createCachedData()
  if (compilePart(name, source, requireBuiltin, cache).cacheRejected) throw new Error(`V8 rejected the code cache it just made for ${name}`)
  fs.writeFileSync(path.join(cacheDir, `${name}.cache`), cache)
  exit(code)
}) as typeof process.exit
// The part `all` is started for relay-listen (and mux, setup) only.
part.exports.run(name === ALL_PART ? 'relay-listen' : name, ['--version'])
