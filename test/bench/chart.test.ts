import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { type BenchResults, costOf, escapeXml, renderChart, writeChart } from '../../bench/chart.js'
import { repoRoot } from '../../lab/built.js'

const sample: BenchResults = {
  date: '2026-01-02T03:04:05.000Z',
  machine: '2 cores, 8 GiB, 6.1.0',
  host: { cpu: 'Test CPU <fast> & "cheap"', cores: 2, memoryGiB: 8, os: 'Linux 6.1.0 x64', node: '22.23.2' },
  rows: [
    { group: 'startup', name: 'node -e 0', value: 25, unit: 'ms' },
    { group: 'startup', name: 'relaykit <script>&', value: 50, unit: 'ms', baseline: 'node -e 0', ratio: 2 },
    { group: 'throughput', name: 'direct', value: 2000, unit: 'MiB/s' },
    { group: 'throughput', name: 'socat', value: 250, unit: 'MiB/s', baseline: 'direct', ratio: 0.125 },
    { group: 'throughput', name: 'relay', value: 2000, unit: 'MiB/s', baseline: 'direct', ratio: 1 },
    { group: 'connect', name: 'spawn per connection', value: 45, unit: 'ms', baseline: 'x', ratio: 250 },
    { group: 'connect', name: 'in-process', value: 0.09, unit: 'ms', baseline: 'x', ratio: 0.5 },
  ],
}

/** Every tag opens and closes in order; returns the problem or undefined. */
function tagProblem(svg: string): string | undefined {
  const stack: string[] = []
  for (const m of svg.replace(/<\?xml[^>]*\?>/, '').matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m
    if (self) continue
    if (!close) stack.push(name as string)
    else if (stack.pop() !== name) return `</${name}> closes the wrong tag`
  }
  return stack.length ? `unclosed: ${stack.join(', ')}` : undefined
}

t.test('one bar per measured ratio, none for baselines', async (t) => {
  const svg = renderChart(sample)
  t.equal([...svg.matchAll(/<rect class="bar /g)].length, 5)
  t.equal([...svg.matchAll(/<rect class="bar worse"/g)].length, 3, 'x2 time, x0.125 throughput, x250 time cost more')
  t.equal([...svg.matchAll(/<rect class="bar better"/g)].length, 1, 'x0.5 time costs less')
  t.equal([...svg.matchAll(/<rect class="bar even"/g)].length, 1, 'x1 is even')
  t.equal(costOf({ group: '', name: '', value: 1, unit: 'MiB/s', ratio: 0.5 }), 2, 'half the throughput costs twice')
  t.notMatch(svg, />node -e 0</, 'the baseline itself gets no row')
})

t.test('labels escaped, numbers present, machine described', async (t) => {
  const svg = renderChart(sample)
  t.match(svg, 'relaykit &lt;script&gt;&amp;')
  t.notMatch(svg, '<script')
  t.match(svg, 'Test CPU &lt;fast&gt; &amp; &quot;cheap&quot;, 2 cores, 8 GiB, Linux 6.1.0 x64, Node 22.23.2')
  for (const n of ['×2.00', '×0.13', '×1.00', '×250', '×0.50', '(50.0 ms)', '(250 MiB/s)', '(0.09 ms)']) t.match(svg, n)
  t.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;')
})

t.test('log axis: whole decades around every ratio, a ×1 reference line', async (t) => {
  const svg = renderChart(sample)
  for (const tick of ['×0.1', '×1', '×10', '×100', '×1000']) t.match(svg, `>${tick}</text>`)
  t.equal([...svg.matchAll(/<line class="one"/g)].length, 1)
  const one = /<line class="one" x1="([\d.]+)"/.exec(svg)?.[1]
  const bars = [...svg.matchAll(/<rect class="bar \w+" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])])
  const x1 = Number(one)
  t.ok(bars.every(([x, w]) => Math.abs((x as number) - x1) < 0.11 || Math.abs((x as number) + (w as number) - x1) < 0.11), 'every bar starts or ends at ×1')
  t.same(bars[2]?.[1], 1, 'a ratio of exactly 1 is a hairline, not nothing')
})

t.test('well-formed: one svg element, every tag closed', async (t) => {
  const svg = renderChart(sample)
  t.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg, /<\/svg>\n$/)
  t.equal(tagProblem(svg), undefined)
  t.equal(tagProblem('<svg><g></svg>'), '</svg> closes the wrong tag', 'the checker itself catches a bad nesting')
})

t.test('no ratios at all still renders an empty, valid chart', async (t) => {
  const svg = renderChart({ ...sample, rows: sample.rows.filter((r) => r.ratio === undefined) })
  t.equal(tagProblem(svg), undefined)
  t.notMatch(svg, 'class="bar')
})

t.test('the committed chart is the committed results, rendered', async (t) => {
  const json = path.join(repoRoot, 'bench', 'results', 'latest.json')
  const results = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchResults
  const out = path.join(t.testdir(), 'latest.svg')
  writeChart(json, out)
  const svg = fs.readFileSync(out, 'utf8')
  t.equal([...svg.matchAll(/<rect class="bar /g)].length, results.rows.filter((r) => r.ratio !== undefined).length)
  t.equal(svg, fs.readFileSync(path.join(repoRoot, 'bench', 'results', 'latest.svg'), 'utf8'), 'bench/results/latest.svg is up to date (npm run bench:chart)')
})
