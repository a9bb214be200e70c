import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { BenchResults } from '../../bench/chart.js'
import { BEGIN, END, figure, performanceText, updateReadme, withFigures } from '../../bench/readme-figures.js'
import { repoRoot } from '../../lab/built.js'

const committed = () => JSON.parse(fs.readFileSync(path.join(repoRoot, 'bench', 'results', 'latest.json'), 'utf8')) as BenchResults

t.test('the README quotes bench/results/latest.json as it is (npm run bench:readme)', async (t) => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8')
  const block = readme.slice(readme.indexOf(BEGIN) + BEGIN.length, readme.indexOf(END))
  t.equal(block, `\n${performanceText(committed())}\n`, 'the text between the markers is what the JSON gives')
})

t.test('each figure comes from its row', async (t) => {
  const results = committed()
  const text = performanceText(results).replace(/\n/g, ' ')
  const value = (group: string, name: string) => results.rows.find((r) => r.group.startsWith(group) && r.name === name)?.value
  t.match(text, `against ${figure(value('connect + request + close (', 'socat + uds-relay') ?? NaN)} ms for a process per connection`)
  t.match(text, `moves ${figure(value('one-way throughput into a named pipe', 'npiperelay (Linux stdin -> Wine -> pipe)') ?? NaN)} MiB/s`)
  // Change one measurement: the text must follow it.
  const changed: BenchResults = { ...results, rows: results.rows.map((r) => (r.name === 'relay-listen, in-process' ? { ...r, value: 12.345 } : r)) }
  t.match(performanceText(changed).replace(/\n/g, ' '), '`relay-listen` in-process costs 12.3 ms per connection')
})

t.test('figures are quoted as prose quotes them', async (t) => {
  t.equal(figure(291.5), '292')
  t.equal(figure(47.68), '47.7')
  t.equal(figure(0.597), '0.60')
})

t.test('a row the text needs and the JSON lacks is an error, not a blank', async (t) => {
  const results = committed()
  const without = { ...results, rows: results.rows.filter((r) => r.name !== 'relay-listen --mux') }
  t.throws(() => performanceText(without), /0 rows "relay-listen --mux"/)
})

t.test('markers: exactly one pair, in order; the text outside them is kept', async (t) => {
  const results = committed()
  const doc = `# x\n\nbefore\n${BEGIN}\nold figures\n${END}\nafter\n`
  const next = withFigures(doc, results)
  t.ok(next.startsWith(`# x\n\nbefore\n${BEGIN}\n`) && next.endsWith(`\n${END}\nafter\n`))
  t.notMatch(next, 'old figures')
  t.equal(withFigures(next, results), next, 'rewriting is idempotent')
  t.throws(() => withFigures('no markers', results), /exactly one/)
  t.throws(() => withFigures(`${END}\n${BEGIN}`, results), /exactly one/)
  t.throws(() => withFigures(`${BEGIN}${END}${BEGIN}${END}`, results), /exactly one/)
})

t.test('--check reports a stale README without touching it; a rewrite fixes it', async (t) => {
  const dir = t.testdir({ 'latest.json': JSON.stringify(committed()), 'README.md': `top\n${BEGIN}\nstale\n${END}\n` })
  const readme = path.join(dir, 'README.md')
  t.equal(updateReadme(readme, path.join(dir, 'latest.json'), true), false)
  t.match(fs.readFileSync(readme, 'utf8'), 'stale', 'check leaves it as it was')
  t.equal(updateReadme(readme, path.join(dir, 'latest.json')), false, 'it was stale')
  t.equal(updateReadme(readme, path.join(dir, 'latest.json'), true), true, 'and is up to date after the rewrite')
})
