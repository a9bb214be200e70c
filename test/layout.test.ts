/**
 * The layout keeps its promises, checked on the real import graph (dpdm):
 * no import cycles; shared/ never imports a relay; a relay imports no other
 * relay (only the registry, relays/index.ts, and the relaykit dispatcher see
 * them all, and its parts each start one relay); product code never
 * imports the lab or the tests (the build may use the lab's Wine), and
 * the benchmarks never import the tests.
 */
import path from 'node:path'
import { type DependencyTree, parseCircular, parseDependencyTree } from 'dpdm'
import t from 'tap'
import { repoRoot } from '../lab/built.js'

const tree: DependencyTree = await parseDependencyTree(['relays/**/*.ts', 'shared/**/*.ts', 'bench/**/*.ts', 'build/**/*.ts', 'lab/**/*.ts'], {
  cwd: repoRoot,
  context: repoRoot,
  transform: true, // type-only imports make no cycle at run time
})

/** Every resolved import, as [from, to] repository paths. */
const edges = Object.entries(tree).flatMap(([from, deps]) =>
  (deps ?? []).filter((d) => d.id !== null).map((d) => [from, path.relative(repoRoot, path.resolve(repoRoot, d.id as string))] as const),
)

t.test('the graph was read', async (t) => {
  t.ok(Object.keys(tree).length > 80, `${Object.keys(tree).length} files`)
  t.ok(edges.some(([from, to]) => from === 'relays/index.ts' && to === 'relays/relay-listen/main.ts'), 'an import the registry is known to make is seen')
})

t.test('no import cycles', async (t) => {
  t.same(parseCircular(tree).map((cycle) => cycle.join(' -> ')), [])
})

const relayOf = (file: string) => /^relays\/([^/]+)\//.exec(file)?.[1]

t.test('imports go downwards', async (t) => {
  const wrong: string[] = []
  for (const [from, to] of edges) {
    const say = (why: string) => wrong.push(`${from} -> ${to}: ${why}`)
    if (from.startsWith('shared/') && to.startsWith('relays/')) say('shared/ imports a relay')
    const a = relayOf(from)
    const b = relayOf(to)
    const registry = to === 'relays/index.ts' && (a === 'relaykit' || from.endsWith('/bin.ts'))
    // The executable's parts (relays/relaykit/parts/<relay>.ts) each start one relay's main.
    const part = from.startsWith('relays/relaykit/parts/') && /^relays\/[^/]+\/main\.ts$/.test(to)
    if (a && (b ?? to.startsWith('relays/')) && a !== b && !registry && !part) say('a relay imports another relay, or the registry')
    // The build runs the Windows target under the lab's Wine to make its code cache.
    const tooling = from.startsWith('lab/') || from.startsWith('bench/') || (from.startsWith('build/') && to.startsWith('lab/'))
    if (!tooling && (to.startsWith('lab/') || to.startsWith('test/'))) say('product code imports the lab or the tests')
    if (from.startsWith('bench/') && to.startsWith('test/')) say('the benchmarks import the tests')
  }
  t.same(wrong, [])
})
