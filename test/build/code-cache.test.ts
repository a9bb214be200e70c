/**
 * The code cache producer (build/produce-code-cache.ts) runs a part the way
 * a start does and takes V8's cache as it exits. uds-relay on POSIX runs a
 * real session (stdin relayed to an echo socket and back) so that the
 * connection path is in its cache; a session that relayed nothing fails the
 * build instead of shipping a cache of the error path.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { repoRoot } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { CACHE_FLAGS, WARM_UP_INPUT, writeProducer } from '../../build/code-cache.js'
import { NodeRuntimes, buildCacheDir } from '../../build/node-runtimes.js'
import { TARGETS } from '../../build/targets.js'
import { VERSION } from '../../shared/version.js'

const partsDir = path.join(repoRoot, 'dist', 'parts')

/** Runs the producer as the build does: in the pinned linux-x64 Node, with the build's flags. */
async function produce(t: Test, part: string, input: Buffer) {
  const dir = shortTempDir(t)
  const producer = await writeProducer(repoRoot, dir)
  const node = await new NodeRuntimes(buildCacheDir()).binary(TARGETS.get('linux-x64')!)
  const r = spawnSync(node, [...CACHE_FLAGS, producer, partsDir, dir, part], { input, encoding: 'latin1' })
  return { ...r, cache: path.join(dir, `${part}.cache`) }
}

t.test('uds-relay: a session relays the build\'s input through an echo socket, then the cache is written', async (t) => {
  const r = await produce(t, 'uds-relay', WARM_UP_INPUT)
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout, WARM_UP_INPUT.toString('latin1'), 'the bytes came back')
  t.ok(fs.statSync(r.cache).size > 0, 'cache written')
  // The executables must be byte-identical from build to build, so the
  // session must compile the same functions every time.
  const again = await produce(t, 'uds-relay', WARM_UP_INPUT)
  t.ok(fs.readFileSync(again.cache).equals(fs.readFileSync(r.cache)), 'a second run makes the same bytes')
})

t.test('uds-relay: a session that relayed nothing fails, and no cache is written', async (t) => {
  const r = await produce(t, 'uds-relay', Buffer.alloc(0))
  t.not(r.status, 0)
  t.match(r.stderr, /the uds-relay session run to make its code cache ended with exit code 0 after 0 bytes/)
  t.notOk(fs.existsSync(r.cache))
})

t.test('a part without a session here runs --version', async (t) => {
  const r = await produce(t, 'npiperelay', WARM_UP_INPUT)
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout, `npiperelay (relaykit) ${VERSION}\n`)
  t.ok(fs.statSync(r.cache).size > 0, 'cache written')
})
