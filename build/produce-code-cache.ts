/**
 * Run by the build in a target's own Node (natively, or node.exe under
 * Wine): compiles one part the way the executable will (part-script.ts),
 * runs it, and writes V8's code cache for it.
 *
 *     node produce-code-cache.cjs PARTS_DIR CACHE_DIR NAME
 *
 * The part runs a command line to the end (one part per process: a part's
 * run ends the process) and the cache is taken as the process exits, so it
 * holds the functions that run compiled and not only the outer wrapper:
 * what V8 finds in the cache it does not compile again at every start.
 * For uds-relay on POSIX that run is a real session ({@link warmUp}: stdin
 * relayed to an echo socket and back), so the connection path is in the
 * cache too; the other parts run `--version` (the part's top level, stdio,
 * the command-line parser, the exit). The cache is then handed back
 * to V8 once more: one V8 rejects (wrong flags, wrong source) fails the
 * build instead of shipping a cache that is never used.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { compilePart, requireBuiltin } from '../relays/relaykit/part-script.js'
import { ALL_PART } from '../relays/relaykit/route.js'

/**
 * The command line the part runs while its cache is made. A session needs
 * the build to feed stdin (code-cache.ts does); it fails the build unless
 * the relay exited 0 after the echo socket got bytes from it. The socket
 * lives in `dir`, the build's own work folder, removed with it.
 */
async function warmUp(part: string, dir: string): Promise<{ args: string[]; check(code: number): void }> {
  if (part !== 'uds-relay' || process.platform === 'win32') return { args: ['--version'], check: () => {} }
  const socket = path.join(dir, 'echo.sock')
  let echoed = 0
  const server = net.createServer((s) => {
    s.on('data', (chunk: Buffer) => (echoed += chunk.length))
    s.on('error', (err) => {
      throw new Error(`the echo socket of the uds-relay session failed: ${err.message}`)
    })
    s.pipe(s)
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve))
  return {
    args: [socket],
    check(code) {
      if (code !== 0 || echoed === 0) throw new Error(`the uds-relay session run to make its code cache ended with exit code ${code} after ${echoed} bytes`)
    },
  }
}

async function main(): Promise<void> {
  const [partsDir, cacheDir, name, ...extra] = process.argv.slice(2)
  if (!partsDir || !cacheDir || !name || extra.length > 0) throw new Error('usage: produce-code-cache PARTS_DIR CACHE_DIR NAME')
  const source = fs.readFileSync(path.join(partsDir, `${name}.cjs`), 'utf8')
  const part = compilePart(name, source, requireBuiltin)
  const run = await warmUp(name, cacheDir)
  const exit = process.exit.bind(process)
  // The part's run exits through process.exit (runStandalone), also on
  // Windows for `--version`: nothing loaded koffi and stdin was never opened.
  process.exit = ((code?: number) => {
    run.check(code ?? 0)
    const cache = part.script.createCachedData()
    if (compilePart(name, source, requireBuiltin, cache).cacheRejected) throw new Error(`V8 rejected the code cache it just made for ${name}`)
    fs.writeFileSync(path.join(cacheDir, `${name}.cache`), cache)
    exit(code)
  }) as typeof process.exit
  // The part `all` is started for relay-listen (and mux, setup) only.
  part.exports.run(name === ALL_PART ? 'relay-listen' : name, run.args)
}

void main()
