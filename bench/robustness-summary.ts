/**
 * The robustness report as data, then as Markdown: for each suite it expects,
 * the outcome of each test file that feeds it (from tap's own record) and
 * the figures those files recorded in this run (summed); a file that did not
 * run says "not run", an expected figure nobody recorded says "not run", and
 * figures that do not belong to the last run are left out with a note.
 * Pure: robustness-report.ts does the reading and writing.
 */
import type { ExitLine, FigureLine, RunMark } from '../lab/figures.js'
import type { TapOutcome } from './tap-outcome.js'

export interface ExpectedSuite {
  suite: string
  /** Test files (relative to the checkout) whose outcome and figures make the suite. */
  files: readonly string[]
  /** Figures the suite must report; others it reports are shown too. */
  figures: readonly string[]
}

/** What tap kept of one file's last run. */
export interface FileResults {
  outcome: TapOutcome
  /** When the results were written (the end of the file's last run). */
  written: Date
}

export type FileStatus = TapOutcome | { status: 'not run'; reason: string }

export interface SuiteSummary {
  suite: string
  files: { file: string; status: FileStatus }[]
  /** Expected figures first, in order; undefined: not recorded in this run. */
  figures: { name: string; value: number | undefined }[]
}

export interface Summary {
  run: RunMark | undefined
  suites: SuiteSummary[]
  /** What makes the figures less than the last run's: older data, repeated or later runs. */
  notes: string[]
  /** Every expected file ran and passed (skips allowed). */
  ok: boolean
}

export interface SummaryInput {
  run: RunMark | undefined
  lines: readonly (FigureLine | ExitLine)[]
  /** By file; absent: tap holds no results for it. */
  results: ReadonlyMap<string, FileResults>
  expected: readonly ExpectedSuite[]
}

/** A file's results may be written this long after the process that recorded its figures exited. */
const RESULTS_LAG_MS = 10_000

const isFigures = (l: FigureLine | ExitLine): l is FigureLine => 'figures' in l

function fileStatus(run: RunMark | undefined, results: FileResults | undefined): FileStatus {
  if (!results) return { status: 'not run', reason: 'tap has no results for it' }
  if (run && results.written < new Date(run.started)) {
    return { status: 'not run', reason: `its last results (${results.written.toISOString()}) predate this run` }
  }
  return results.outcome
}

/** The lines of `file` from its latest recording process in this run, with notes on what was left out. */
function latestLines(file: string, lines: readonly (FigureLine | ExitLine)[], results: FileResults | undefined, notes: string[]): (FigureLine | ExitLine)[] {
  const own = lines.filter((l) => l.file === file)
  const pids = [...new Set(own.map((l) => l.pid))]
  const last = pids.at(-1)
  if (last === undefined) return []
  if (pids.length > 1) notes.push(`${file} recorded figures from ${pids.length} processes in this run (ran again without --reset): only its last run counts`)
  const latest = own.filter((l) => l.pid === last)
  const exit = latest.find((l) => !isFigures(l))
  if (results && exit && results.written.getTime() > new Date(exit.at).getTime() + RESULTS_LAG_MS) {
    notes.push(`${file} ran again (results of ${results.written.toISOString()}) after recording these figures (${exit.at}): they are older than its last run`)
  }
  return latest
}

export function summarize(input: SummaryInput): Summary {
  const { run, expected } = input
  const notes: string[] = []
  if (!run) notes.push('no run was marked (`npm test` marks one with --reset): these figures may be from any number of runs')
  const current = input.lines.filter((l) => l.run === (run?.id ?? null))
  const older = input.lines.length - current.length
  if (older) notes.push(`${older} recorded lines belong to another run than the last one (${run?.id ?? 'unmarked'}): left out`)
  const suites = expected.map((e): SuiteSummary => {
    const totals = new Map<string, number | undefined>(e.figures.map((f) => [f, undefined]))
    for (const file of e.files) {
      for (const line of latestLines(file, current, input.results.get(file), notes)) {
        if (!isFigures(line) || line.suite !== e.suite) continue
        for (const [name, value] of Object.entries(line.figures)) totals.set(name, (totals.get(name) ?? 0) + value)
      }
    }
    return {
      suite: e.suite,
      files: e.files.map((file) => ({ file, status: fileStatus(run, input.results.get(file)) })),
      figures: [...totals].map(([name, value]) => ({ name, value })),
    }
  })
  const known = new Set(expected.flatMap((e) => e.files))
  for (const file of new Set(current.filter((l) => !known.has(l.file)).map((l) => l.file))) {
    notes.push(`${file} recorded figures but is not in the report's list of suites: left out`)
  }
  const ok = suites.every((s) => s.files.every((f) => f.status.status === 'passed' || f.status.status === 'skipped'))
  return { run, suites, notes, ok }
}

function describe(status: FileStatus): string {
  switch (status.status) {
    case 'passed':
      return status.skipped.length ? `passed; skipped: ${status.skipped.join('; ')}` : 'passed'
    case 'skipped':
      return `skipped: ${status.reason}`
    case 'failed':
      return `**FAILED**: ${status.failures.join('; ')}`
    case 'incomplete':
      return `**incomplete**: ${status.reason}`
    case 'not run':
      return `**not run**: ${status.reason}`
  }
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function renderSummary(s: Summary): string {
  const out = [s.run ? `Run started ${s.run.started} (\`npm test\`, id ${s.run.id.slice(0, 8)}).` : 'No marked run.', '']
  if (s.notes.length) out.push(...s.notes.map((n) => `- ${cell(n)}`), '')
  out.push('| suite | test file | outcome |', '|---|---|---|')
  for (const suite of s.suites) for (const f of suite.files) out.push(`| ${suite.suite} | ${f.file} | ${cell(describe(f.status))} |`)
  out.push('', '| suite | figure | count |', '|---|---|---:|')
  for (const suite of s.suites) {
    for (const f of suite.figures) out.push(`| ${suite.suite} | ${cell(f.name)} | ${f.value === undefined ? 'not run' : f.value} |`)
  }
  return out.join('\n') + '\n'
}
