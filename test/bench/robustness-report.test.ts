import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { report } from '../../bench/robustness-report.js'
import type { ExpectedSuite } from '../../bench/robustness-summary.js'
import { ROBUSTNESS_SUITES } from '../../bench/robustness-suites.js'
import { repoRoot } from '../../lab/built.js'
import { startRun } from '../../lab/figures.js'
import { runAsTap } from './fixtures/tap-of.js'

const f = (name: string) => `test/bench/fixtures/${name}`

function lab(t: Test) {
  const figuresDir = t.testdir()
  const tapResultsDir = path.join(figuresDir, 'tap')
  const run = (fixture: string) => runAsTap(fixture, figuresDir, tapResultsDir)
  const print = (expected: readonly ExpectedSuite[]) => {
    let text = ''
    const code = report({ figuresDir, tapResultsDir }, expected, (s) => (text += s))
    return { code, text, lines: text.split('\n') }
  }
  return { figuresDir, run, print }
}

const EXPECTED: ExpectedSuite[] = [
  { suite: 'fuzz', files: [f('pass.mjs')], figures: ['cases', 'never recorded'] },
  { suite: 'faults', files: [f('fail.mjs'), f('missing.mjs')], figures: ['injected'] },
  { suite: 'load', files: [f('crash.mjs')], figures: ['requests'] },
  { suite: 'security', files: [f('skip.mjs')], figures: ['secrets found'] },
]

t.test('outcomes against the expected list: passed, failed, not run, incomplete, skipped', async (t) => {
  const { figuresDir, run, print } = lab(t)
  startRun(figuresDir)
  for (const fixture of ['pass.mjs', 'fail.mjs', 'crash.mjs', 'skip.mjs']) run(fixture)
  const { code, text, lines } = print(EXPECTED)
  t.equal(code, 1, 'a failure (and a file that did not run) make the report fail')
  t.ok(lines.includes(`| fuzz | ${f('pass.mjs')} | passed; skipped: Wine part (Windows lab not provisioned) |`), 'passed, naming what it skipped')
  t.ok(lines.includes(`| faults | ${f('fail.mjs')} | **FAILED**: the relay exits 0 |`), 'a failure shows as one')
  t.ok(lines.includes(`| faults | ${f('missing.mjs')} | **not run**: tap has no results for it |`), 'an expected file that did not run')
  t.match(text, `| load | ${f('crash.mjs')} | **incomplete**: no closing plan`, 'a file killed mid-way')
  t.ok(lines.includes(`| security | ${f('skip.mjs')} | skipped: Windows lab not provisioned |`))
  t.ok(lines.includes('| fuzz | cases | 3 |'), 'a recorded figure')
  t.ok(lines.includes('| fuzz | never recorded | not run |'), 'an expected figure nobody recorded')
  t.ok(lines.includes('| security | secrets found | not run |'), 'not a 0 when the suite did not run')
  t.ok(lines.includes('| load | requests | 5 |'))
  t.match(fs.readFileSync(path.join(figuresDir, 'report.md'), 'utf8'), lines[lines.indexOf('| suite | figure | count |') + 2] ?? 'x', 'report.md holds the same table')
})

t.test('a clean run exits 0', async (t) => {
  const { figuresDir, run, print } = lab(t)
  startRun(figuresDir)
  run('pass.mjs')
  run('skip.mjs')
  const { code, text } = print([EXPECTED[0] as ExpectedSuite, EXPECTED[3] as ExpectedSuite])
  t.equal(code, 0, text)
  t.notMatch(text, /^- /m, 'and has nothing to note')
})

t.test('a file run again without --reset counts once, and the report says so', async (t) => {
  const { figuresDir, run, print } = lab(t)
  startRun(figuresDir)
  run('pass.mjs')
  run('pass.mjs')
  const { text, lines } = print([EXPECTED[0] as ExpectedSuite])
  t.ok(lines.includes('| fuzz | cases | 3 |'), 'not 6')
  t.match(text, `- ${f('pass.mjs')} recorded figures from 2 processes in this run`)
})

t.test('results older than the last run (npm test started again) are not this run', async (t) => {
  const { figuresDir, run, print } = lab(t)
  startRun(figuresDir)
  run('pass.mjs')
  await new Promise((r) => setTimeout(r, 20))
  startRun(figuresDir)
  const { code, text, lines } = print([EXPECTED[0] as ExpectedSuite])
  t.equal(code, 1)
  t.match(text, `| fuzz | ${f('pass.mjs')} | **not run**: its last results (`)
  t.match(text, 'predate this run')
  t.ok(lines.includes('| fuzz | cases | not run |'), 'the figures of the earlier run are gone')
})

t.test('figures recorded with no run marked say so', async (t) => {
  const { run, print } = lab(t)
  run('pass.mjs')
  const { text } = print([EXPECTED[0] as ExpectedSuite])
  t.match(text, '- no run was marked')
  t.match(text, '| fuzz | cases | 3 |')
})

t.test('nothing recorded at all: exit 1 and the fix', async (t) => {
  const { print } = lab(t)
  const stderr = t.capture(process.stderr, 'write', () => true)
  t.equal(print(EXPECTED).code, 1)
  t.match(String(stderr().at(0)?.args[0]), 'run the tests first (npm test)')
})

t.test('the suites npm test reports are files that exist and record under that suite', async (t) => {
  for (const { suite, files } of ROBUSTNESS_SUITES) {
    for (const file of files) {
      const source = fs.readFileSync(path.join(repoRoot, file), 'utf8')
      t.match(source, `recordFigures('${suite}'`, `${file} records ${suite} figures`)
    }
  }
})
