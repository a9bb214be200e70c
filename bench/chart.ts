/**
 * The benchmark ratios as one SVG: a horizontal bar per measured row, drawn
 * on a log scale from the ×1 line (its same-run baseline) to its ratio, so
 * ×0.5 and ×2 are bars of the same length on either side. Bars are coloured
 * by cost, not by direction: a throughput ratio below 1 is as bad as a time
 * ratio above 1. Plain SVG, no dependencies, no script.
 *
 *     node lib/bench/chart.js [IN.json] [OUT.svg]
 *
 * renders bench/results/latest.json into bench/results/latest.svg without
 * re-running anything; `npm run bench` calls it at the end.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Row } from './results-table.js'

/** What bench/run.ts writes to latest.json. */
export interface BenchResults {
  date: string
  /** Short machine summary (older runs have only this). */
  machine: string
  /** Newer runs: what the figures were measured on. */
  host?: BenchHost
  quick?: boolean
  /** Newer runs with the Windows lab: `wine --version`. */
  wine?: string
  rows: Row[]
}

export interface BenchHost {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  node: string
}

/** The line that says where the figures come from. */
export function describeMachine(results: Pick<BenchResults, 'machine' | 'host'>): string {
  const h = results.host
  return h ? `${h.cpu}, ${h.cores} cores, ${h.memoryGiB} GiB, ${h.os}, Node ${h.node}` : results.machine
}

/** Text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string)
}

/** Units where more is better: their ratio is inverted to get a cost. */
const HIGHER_IS_BETTER = new Set(['MiB/s'])

/** How many times the baseline's cost a row is (above 1: worse than the baseline). */
export function costOf(row: Row): number {
  const ratio = row.ratio ?? 1
  return HIGHER_IS_BETTER.has(row.unit) ? 1 / ratio : ratio
}

function formatRatio(r: number): string {
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)
}

function formatValue(v: number, unit: string): string {
  return `${v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)} ${unit}`
}

const LAYOUT = {
  width: 960,
  label: 360, // left column: row names
  right: 210, // right column: ratio and values
  top: 70,
  rowHeight: 22,
  groupGap: 26,
  bottom: 50,
}

/** The SVG document for `results`. */
export function renderChart(results: BenchResults): string {
  const measured = results.rows.filter((r): r is Row & { ratio: number } => typeof r.ratio === 'number' && r.ratio > 0)
  const ratios = measured.map((r) => r.ratio)
  // Whole decades around every ratio and ×1, so the ticks are 0.1, 1, 10 …
  const lo = Math.floor(Math.log10(Math.min(1, ...ratios)))
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(1, ...ratios))))
  const x0 = LAYOUT.label
  const plotWidth = LAYOUT.width - LAYOUT.label - LAYOUT.right
  const x = (ratio: number) => x0 + ((Math.log10(ratio) - lo) / (hi - lo)) * plotWidth

  const body: string[] = []
  let y = LAYOUT.top
  for (const group of [...new Set(measured.map((r) => r.group))]) {
    y += LAYOUT.groupGap
    body.push(`<text class="group" x="8" y="${y - 8}">${escapeXml(group)}</text>`)
    for (const r of measured.filter((m) => m.group === group)) {
      const a = x(Math.min(1, r.ratio))
      const b = x(Math.max(1, r.ratio))
      const cost = costOf(r)
      const kind = cost > 1 ? 'worse' : cost < 1 ? 'better' : 'even'
      const title = `${r.name}: ${formatValue(r.value, r.unit)}, ×${formatRatio(r.ratio)} of ${r.baseline ?? 'baseline'}`
      body.push(
        `<g class="row">`,
        `<title>${escapeXml(title)}</title>`,
        `<text class="label" x="${x0 - 8}" y="${y + 15}" text-anchor="end">${escapeXml(r.name)}</text>`,
        `<rect class="bar ${kind}" x="${a.toFixed(1)}" y="${y + 3}" width="${Math.max(1, b - a).toFixed(1)}" height="${LAYOUT.rowHeight - 6}"/>`,
        `<text class="value" x="${LAYOUT.width - LAYOUT.right + 8}" y="${y + 15}">×${formatRatio(r.ratio)}  (${escapeXml(formatValue(r.value, r.unit))})</text>`,
        `</g>`,
      )
      y += LAYOUT.rowHeight
    }
  }
  const plotTop = LAYOUT.top
  const plotBottom = y + 6
  const height = plotBottom + LAYOUT.bottom

  const axis: string[] = []
  for (let d = lo; d <= hi; d++) {
    const tick = 10 ** d
    const tx = x(tick).toFixed(1)
    const label = tick >= 1 ? `×${tick}` : `×${Number(tick.toPrecision(1))}`
    axis.push(
      `<line class="${d === 0 ? 'one' : 'grid'}" x1="${tx}" y1="${plotTop}" x2="${tx}" y2="${plotBottom}"/>`,
      `<text class="tick" x="${tx}" y="${plotBottom + 16}" text-anchor="middle">${label}</text>`,
    )
  }

  const subtitle = `${results.date.slice(0, 10)} on ${describeMachine(results)}${results.quick ? ' (quick run)' : ''}`
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${LAYOUT.width}" height="${height}" viewBox="0 0 ${LAYOUT.width} ${height}" role="img" aria-label="relaykit benchmark ratios">`,
    `<style>`,
    `text { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 12px; fill: #24292f; }`,
    `.title { font-size: 16px; font-weight: 600; } .subtitle, .tick, .note { fill: #57606a; } .group { font-weight: 600; }`,
    `.bar.worse { fill: #d97706; } .bar.better { fill: #2da44e; } .bar.even { fill: #57606a; }`,
    `.grid { stroke: #d0d7de; stroke-width: 1; } .one { stroke: #24292f; stroke-width: 1.5; }`,
    `</style>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text class="title" x="8" y="24">relaykit benchmarks: each row against its baseline in the same run (log scale, ×1 = the baseline)</text>`,
    `<text class="subtitle" x="8" y="44">${escapeXml(subtitle)}</text>`,
    `<text class="note" x="8" y="62">orange: costs more than the baseline (slower, bigger); green: costs less. Medians.</text>`,
    ...axis,
    ...body,
    `<text class="note" x="${x0}" y="${plotBottom + 36}">ratio = value / baseline value; for MiB/s, less than ×1 means slower</text>`,
    `</svg>`,
    '',
  ].join('\n')
}

/** Render `input` (latest.json) into `output` (latest.svg). */
export function writeChart(input: string, output: string): void {
  const results = JSON.parse(fs.readFileSync(input, 'utf8')) as BenchResults
  fs.writeFileSync(output, renderChart(results))
}

function resultsDir(): string {
  // lib/bench/chart.js or bench/chart.ts: the results live in the checkout's bench/results.
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return path.join(dir, 'bench', 'results')
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const input = process.argv[2] ?? path.join(resultsDir(), 'latest.json')
  const output = process.argv[3] ?? input.replace(/\.json$/, '') + '.svg'
  writeChart(input, output)
  process.stderr.write(`wrote ${output}\n`)
}
