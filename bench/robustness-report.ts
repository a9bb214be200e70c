/**
 * The robustness report (test/robustness and the fault cases elsewhere): for
 * each suite in robustness-suites.ts, whether its test files passed, failed,
 * were skipped or did not run (tap's record in .tap/test-results), and the
 * figures they recorded in .robustness/figures.jsonl during the last run.
 *
 *     node lib/bench/robustness-report.js --reset   mark a new run (npm test, before tap)
 *     node lib/bench/robustness-report.js           print the report (npm test after tap; npm run report)
 *
 * The table is also written to .robustness/report.md. Exit 1 when an expected
 * file failed, did not finish or did not run in the last run.
 */
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot } from '../lab/built.js'
import { type ExitLine, FIGURES_DIR, type FigureLine, readRun, startRun } from '../lab/figures.js'
import { ROBUSTNESS_SUITES } from './robustness-suites.js'
import { type ExpectedSuite, type FileResults, renderSummary, summarize } from './robustness-summary.js'
import { tapOutcome } from './tap-outcome.js'

export interface ReportPaths {
  /** .robustness: run.json, figures.jsonl, report.md */
  figuresDir: string
  /** .tap/test-results: one <test file>.tap per file tap ran */
  tapResultsDir: string
}

function readLines(file: string): { lines: (FigureLine | ExitLine)[]; bad: number } {
  const lines: (FigureLine | ExitLine)[] = []
  let bad = 0
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''
  for (const raw of text.split('\n')) {
    if (!raw) continue
    try {
      lines.push(JSON.parse(raw) as FigureLine | ExitLine)
    } catch {
      bad++ // a line cut short by a killed process
    }
  }
  return { lines, bad }
}

function readResults(dir: string, expected: readonly ExpectedSuite[]): Map<string, FileResults> {
  const results = new Map<string, FileResults>()
  for (const file of expected.flatMap((e) => e.files)) {
    const tap = path.join(dir, `${file}.tap`)
    if (!fs.existsSync(tap)) continue
    results.set(file, { outcome: tapOutcome(fs.readFileSync(tap, 'utf8')), written: fs.statSync(tap).mtime })
  }
  return results
}

/** Print the report of the last run; returns the exit code. */
export function report(paths: ReportPaths, expected = ROBUSTNESS_SUITES, out: (text: string) => void = (t) => process.stdout.write(t)): number {
  const run = readRun(path.join(paths.figuresDir, 'run.json'))
  const { lines, bad } = readLines(path.join(paths.figuresDir, 'figures.jsonl'))
  if (!run && lines.length === 0) {
    process.stderr.write(`no robustness figures in ${path.relative(repoRoot, paths.figuresDir) || '.'}: run the tests first (npm test)\n`)
    return 1
  }
  const summary = summarize({ run, lines, results: readResults(paths.tapResultsDir, expected), expected })
  if (bad) summary.notes.push(`${bad} unreadable lines in figures.jsonl (a process killed while writing?)`)
  const table = renderSummary(summary)
  fs.writeFileSync(path.join(paths.figuresDir, 'report.md'), `# Robustness report\n\n${table}`)
  out(`\nRobustness report (test/robustness and fault cases):\n${table}`)
  return summary.ok ? 0 : 1
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  if (process.argv.includes('--reset')) {
    startRun(FIGURES_DIR)
  } else {
    process.exitCode = report({ figuresDir: FIGURES_DIR, tapResultsDir: path.join(repoRoot, '.tap', 'test-results') })
  }
}
