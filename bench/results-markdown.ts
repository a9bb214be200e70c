/**
 * bench/results/latest.md: the rows of a run as one Markdown table per group.
 * The ratio column says "baseline" only for a row others are compared with;
 * a row that stands alone (no baseline, none compared with it) shows "—".
 */
import { type BenchResults, describeMachine } from './chart.js'
import { type Row, isBaseline } from './results-table.js'

function ratioCell(rows: readonly Row[], r: Row): string {
  if (r.baseline !== undefined && r.ratio !== undefined) return `x${r.ratio.toFixed(2)} of ${r.baseline}`
  return isBaseline(rows, r) ? 'baseline' : '—'
}

export function resultsMarkdown(results: Pick<BenchResults, 'date' | 'machine' | 'host' | 'rows'>): string {
  const { rows } = results
  const lines = [`Measured ${results.date} on ${describeMachine(results)}. Medians; ratio = value / baseline in the same run.`, '', '![ratios](latest.svg)', '']
  for (const group of [...new Set(rows.map((r) => r.group))]) {
    lines.push(`### ${group}`, '', '| | value | ratio |', '|---|---|---|')
    for (const r of rows.filter((x) => x.group === group)) {
      const v = r.unit === 'MiB/s' ? r.value.toFixed(1) : r.value.toFixed(2)
      lines.push(`| ${r.name} | ${v} ${r.unit} | ${ratioCell(rows, r)} |`)
    }
    lines.push('')
  }
  return lines.join('\n')
}
