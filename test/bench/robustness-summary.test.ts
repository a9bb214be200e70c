import t from 'tap'
import { type ExpectedSuite, type FileResults, summarize } from '../../bench/robustness-summary.js'
import type { ExitLine, FigureLine, RunMark } from '../../lab/figures.js'

const run: RunMark = { id: 'run-2', started: '2026-01-01T10:00:00.000Z' }
const passed: FileResults['outcome'] = { status: 'passed', skipped: [] }
const expected: ExpectedSuite[] = [{ suite: 'faults', files: ['a.test.ts', 'b.test.ts'], figures: ['injected', 'survived'] }]
const fig = (file: string, pid: number, at: string, figures: Record<string, number>, id: string | null = run.id): FigureLine => ({ run: id, file, pid, at, suite: 'faults', figures })
const exit = (file: string, pid: number, at: string): ExitLine => ({ run: run.id, file, pid, at, exit: 0 })
const results = (written: string) => ({ outcome: passed, written: new Date(written) })

t.test('a suite sums the figures of all its files', async (t) => {
  const s = summarize({
    run,
    expected,
    lines: [fig('a.test.ts', 1, '2026-01-01T10:00:05Z', { injected: 5, survived: 5 }), fig('b.test.ts', 2, '2026-01-01T10:01:00Z', { injected: 1, survived: 0 })],
    results: new Map([['a.test.ts', results('2026-01-01T10:00:06Z')], ['b.test.ts', results('2026-01-01T10:01:01Z')]]),
  })
  t.same(s.suites[0]?.figures, [{ name: 'injected', value: 6 }, { name: 'survived', value: 5 }])
  t.same(s.notes, [])
  t.equal(s.ok, true)
})

t.test('lines of another run are left out, with a note', async (t) => {
  const s = summarize({
    run,
    expected,
    lines: [fig('a.test.ts', 1, '2026-01-01T09:00:00Z', { injected: 7 }, 'run-1'), fig('a.test.ts', 3, '2026-01-01T10:00:05Z', { injected: 1 })],
    results: new Map([['a.test.ts', results('2026-01-01T10:00:06Z')], ['b.test.ts', results('2026-01-01T10:01:01Z')]]),
  })
  t.equal(s.suites[0]?.figures[0]?.value, 1)
  t.match(s.notes, [/1 recorded lines belong to another run than the last one \(run-2\)/])
})

t.test('figures older than the file\'s last run: it ran again (and recorded nothing) after they were written', async (t) => {
  const lines = [fig('a.test.ts', 1, '2026-01-01T10:00:05Z', { injected: 5 }), exit('a.test.ts', 1, '2026-01-01T10:00:06Z')]
  const fresh = summarize({ run, expected, lines, results: new Map([['a.test.ts', results('2026-01-01T10:00:07Z')], ['b.test.ts', results('2026-01-01T10:00:08Z')]]) })
  t.same(fresh.notes, [], 'results written right after the recording process exited: the same run')
  const later = summarize({ run, expected, lines, results: new Map([['a.test.ts', results('2026-01-01T11:30:00Z')], ['b.test.ts', results('2026-01-01T10:00:08Z')]]) })
  t.match(later.notes, [/a\.test\.ts ran again \(results of 2026-01-01T11:30:00\.000Z\) after recording these figures .*older than its last run/])
})

t.test('a file that recorded figures but is not expected is named', async (t) => {
  const s = summarize({ run, expected, lines: [fig('new.test.ts', 9, '2026-01-01T10:00:05Z', { injected: 1 })], results: new Map() })
  t.match(s.notes, [/new\.test\.ts recorded figures but is not in the report's list/])
  t.equal(s.ok, false, 'and the expected files that did not run fail it')
})
