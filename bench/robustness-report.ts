/**
 * The robustness report (issue: frame-aware safety): sums what the tests
 * under test/robustness recorded in .robustness/figures.jsonl (cases
 * fuzzed, faults injected and survived, requests under load and failures,
 * leaks) and prints it as a Markdown table. `npm test` runs it with
 * `--reset` before tap and without after; the table is also written to
 * .robustness/report.md.
 */
import fs from 'node:fs'
import path from 'node:path'
import { repoRoot } from '../lab/built.js'
import { FIGURES_FILE } from '../lab/figures.js'

function main(): number {
  if (process.argv.includes('--reset')) {
    fs.rmSync(FIGURES_FILE, { force: true })
    return 0
  }
  if (!fs.existsSync(FIGURES_FILE)) {
    process.stderr.write(`no figures at ${path.relative(repoRoot, FIGURES_FILE)}: run the tests first (npm test)\n`)
    return 1
  }
  const totals = new Map<string, number>()
  for (const line of fs.readFileSync(FIGURES_FILE, 'utf8').split('\n')) {
    if (!line) continue
    const { suite, figures } = JSON.parse(line) as { suite: string; figures: Record<string, number> }
    for (const [name, value] of Object.entries(figures)) {
      const key = `${suite}\t${name}`
      totals.set(key, (totals.get(key) ?? 0) + value)
    }
  }
  const rows = [...totals].map(([key, value]) => `| ${key.replace('\t', ' | ')} | ${value} |`)
  const table = ['| suite | figure | count |', '|---|---|---:|', ...rows].join('\n') + '\n'
  fs.writeFileSync(path.join(path.dirname(FIGURES_FILE), 'report.md'), `# Robustness report\n\nFrom the last \`npm test\` run.\n\n${table}`)
  process.stdout.write(`\nRobustness report (test/robustness):\n${table}`)
  return 0
}

process.exitCode = main()
