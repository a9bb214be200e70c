/**
 * The main script of the standalone executable: a small dispatcher that
 * loads only the part the command line needs (route.ts), so a relay's
 * start-up compiles that relay's code and not every relay's.
 * `relays/relaykit/bin.ts` stays the entry of the npm package, where Node
 * loads modules one by one anyway.
 */
// Named imports throughout the dispatcher: a default import of a builtin
// makes esbuild copy the module's every export at start (its __toESM).
import { writeSync } from 'node:fs'
import { VERSION } from '../../shared/version.js'
import { invokedName } from './invoked-name.js'
import { loadPart } from './load-part.js'
import { route } from './route.js'

type Sea = typeof import('node:sea')

function seaModule(): Sea | undefined {
  const sea = process.getBuiltinModule?.('node:sea') as Sea | undefined
  return sea?.isSea() ? sea : undefined
}

function main(): void {
  const sea = seaModule()
  const chosen = route(invokedName(process.argv, process.execPath, sea !== undefined), process.argv.slice(2))
  if (chosen.kind === 'version') {
    // Synchronous: nothing is left in flight when the process ends.
    writeSync(1, `relaykit ${VERSION}\n`)
    return
  }
  const started = process.hrtime.bigint()
  const part = loadPart(chosen.part, sea, process.argv[1] ?? '')
  if (process.env.RELAYKIT_TRACE_PARTS === '1') {
    const cache = part.cacheRejected === undefined ? 'none' : part.cacheRejected ? 'rejected' : 'accepted'
    const ms = (Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)
    writeSync(2, `relaykit: part ${chosen.part}, code cache ${cache}, loaded in ${ms} ms\n`)
  }
  part.exports.run(chosen.invoked, chosen.args)
}

main()
