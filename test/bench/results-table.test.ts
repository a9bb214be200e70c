import t from 'tap'
import { type BenchResults } from '../../bench/chart.js'
import { resultsMarkdown } from '../../bench/results-markdown.js'
import { Report } from '../../bench/results-table.js'

t.test('a row compared with a baseline gets its ratio', async (t) => {
  const report = new Report()
  report.add('g', 'direct', 2, 'ms')
  const row = report.add('g', 'relay', 5, 'ms', 'direct')
  t.equal(row.ratio, 2.5)
  t.equal(row.baseline, 'direct')
})

t.test('a misspelled baseline fails the run instead of making a row without a ratio', async (t) => {
  const report = new Report()
  report.add('g', 'direct to ssh-agent', 2, 'ms')
  t.throws(() => report.add('g', 'socat', 5, 'ms', 'direct to ssh agent'), { name: 'RowError', message: /no baseline "direct to ssh agent"/ }, 'no such row in the group')
  t.throws(() => report.add('other group', 'socat', 5, 'ms', 'direct to ssh-agent'), { name: 'RowError' }, 'a baseline of another group does not count')
  t.equal(report.rows.length, 1, 'nothing was added')
})

t.test('a baseline of 0 or a duplicate row name fails too', async (t) => {
  const report = new Report()
  report.add('g', 'zero', 0, 'ms')
  t.throws(() => report.add('g', 'x', 1, 'ms', 'zero'), { name: 'RowError', message: /is 0/ })
  t.throws(() => report.add('g', 'zero', 1, 'ms'), { name: 'RowError', message: /already has/ }, 'two rows of one name would make a baseline ambiguous')
})

t.test('latest.md labels baselines, ratios and rows that stand alone', async (t) => {
  const report = new Report()
  report.add('g', 'direct', 2, 'ms')
  report.add('g', 'relay', 5, 'ms', 'direct')
  report.add('peak', 'alone', 150, 'MiB')
  const results: BenchResults = { date: '2026-01-02T03:04:05.000Z', machine: 'm', rows: report.rows }
  const md = resultsMarkdown(results)
  t.match(md, '| direct | 2.00 ms | baseline |')
  t.match(md, '| relay | 5.00 ms | x2.50 of direct |')
  t.match(md, '| alone | 150.00 MiB | — |', 'a lone row is not called a baseline')
})
