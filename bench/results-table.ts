/**
 * The rows a benchmark run reports. A row may name a baseline row of its
 * group, measured earlier in the same run; its ratio is value / baseline.
 * A baseline name that matches no row is a mistake in the benchmark, not a
 * missing figure: it throws, so a typo cannot turn a comparison into a row
 * that looks like a baseline itself.
 */

/** One line of the report. `baseline` names the row this one is compared with. */
export interface Row {
  group: string
  name: string
  value: number
  unit: string
  baseline?: string
  /** value / baseline value (for times and memory: how many times the cost). */
  ratio?: number
}

export class RowError extends Error {
  override name = 'RowError'
}

export class Report {
  readonly rows: Row[] = []

  /** Add a row; with `baseline`, the row of that name in `group` must exist and have a value above 0. */
  add(group: string, name: string, value: number, unit: string, baseline?: string): Row {
    if (this.rows.some((r) => r.group === group && r.name === name)) throw new RowError(`"${group}" already has a row "${name}"`)
    const row: Row = { group, name, value, unit, ...(baseline === undefined ? {} : { baseline, ratio: value / baselineValue(this.rows, group, baseline) }) }
    this.rows.push(row)
    const shown = value.toFixed(unit === 'MiB/s' ? 1 : 2)
    process.stderr.write(`  ${group} | ${name}: ${shown} ${unit}${row.ratio === undefined ? '' : ` (x${row.ratio.toFixed(2)} of ${baseline})`}\n`)
    return row
  }
}

function baselineValue(rows: readonly Row[], group: string, baseline: string): number {
  const base = rows.find((r) => r.group === group && r.name === baseline)
  if (!base) {
    const known = rows.filter((r) => r.group === group).map((r) => `"${r.name}"`)
    throw new RowError(`no baseline "${baseline}" in "${group}" (rows so far: ${known.join(', ') || 'none'})`)
  }
  if (!(base.value > 0)) throw new RowError(`baseline "${baseline}" in "${group}" is ${base.value}: no ratio can be taken against it`)
  return base.value
}

/** Whether some row of its group compares itself with `row`. */
export function isBaseline(rows: readonly Row[], row: Row): boolean {
  return rows.some((r) => r.group === row.group && r.baseline === row.name)
}
