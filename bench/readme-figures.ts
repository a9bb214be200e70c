/**
 * The README's performance figures, written from bench/results/latest.json
 * between `<!-- bench:begin -->` and `<!-- bench:end -->`, so the prose
 * cannot drift from the measurements it quotes.
 *
 *     node lib/bench/readme-figures.js [--check]
 *
 * rewrites README.md (`npm run bench:readme`; `npm run bench` does it at the
 * end); `--check` only says whether README.md is up to date (exit 1 if not).
 * A row the text needs but the JSON lacks is an error, never a blank.
 */
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot } from '../lab/built.js'
import { type BenchResults, describeMachine } from './chart.js'
import type { Row } from './results-table.js'

export const BEGIN = '<!-- bench:begin -->'
export const END = '<!-- bench:end -->'

/** The row of `name` in the group whose title starts with `group` (titles carry run sizes, e.g. "(30x, Wine)"). */
function row(results: BenchResults, group: string, name: string): Row {
  const found = results.rows.filter((r) => r.group.startsWith(group) && r.name === name)
  if (found.length !== 1) throw new Error(`README figures: ${found.length} rows "${name}" in a group "${group}…" of the bench results (want 1)`)
  return found[0] as Row
}

function rowsOf(results: BenchResults, group: string, name: (n: string) => boolean): Row[] {
  const found = results.rows.filter((r) => r.group.startsWith(group) && name(r.name))
  if (found.length === 0) throw new Error(`README figures: no matching rows in a group "${group}…" of the bench results`)
  return found
}

/** Two or three significant figures, as prose quotes them. */
export function figure(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)
}

function range(values: readonly number[]): string {
  const lo = figure(Math.min(...values))
  const hi = figure(Math.max(...values))
  return lo === hi ? lo : `${lo}–${hi}`
}

function ratioOf(r: Row): number {
  if (r.ratio === undefined) throw new Error(`README figures: row "${r.name}" has no ratio`)
  return r.ratio
}

/** The Markdown between the markers (without them), wrapped like the rest of the README. */
export function performanceText(results: BenchResults): string {
  const wConnect = 'connect + request + close to Pageant ('
  const wRequest = 'Pageant request, one connection ('
  const wThroughput = 'one-way throughput into a named pipe ('
  const lConnect = 'connect + request + close ('
  const perConnection = rowsOf(results, wConnect, (n) => n.startsWith('socat + ')).map((r) => r.value)
  const requestDirect = row(results, wRequest, 'direct Wine client').value
  const added = rowsOf(results, wRequest, (n) => n.startsWith('socat + ')).map((r) => r.value - requestDirect)
  const piped = row(results, wThroughput, 'npiperelay (Linux stdin -> Wine -> pipe)')
  const memory = 'memory of 16 open connections ('
  const runOn = `${results.date.slice(0, 10)} on ${describeMachine(results)}${results.wine ? `, ${results.wine}` : ''}`
  const sentences = [
    `Headlines from the run of ${runOn}${results.quick ? ' (a quick run: fewer repetitions)' : ''}:`,
    `under Wine, connect + request + close to Pageant costs ${range(perConnection)} ms through \`socat\` + a relay process`,
    `(Wine + Node start; a Node script started per connection costs ${figure(row(results, wConnect, 'node.exe started per connection').value)} ms),`,
    `and **${figure(row(results, wConnect, 'relay-listen --mux + pageant-relay pipe').value)} ms through \`relay-listen --mux\`**`,
    `(one Windows process for all connections; a direct Windows client: ${figure(row(results, wConnect, 'direct Wine client (no process start)').value)} ms);`,
    `per request on an open connection the relays add ${range(added)} ms to a direct Windows client (${figure(requestDirect)} ms);`,
    `npiperelay moves ${figure(piped.value)} MiB/s into a pipe (${Math.round(ratioOf(piped) * 100)}% of a direct Windows client).`,
    `On Linux, \`relay-listen\` in-process costs ${figure(row(results, lConnect, 'relay-listen, in-process').value)} ms per connection`,
    `and \`--mux\` ${figure(row(results, lConnect, 'relay-listen --mux').value)} ms, against ${figure(row(results, lConnect, 'socat + uds-relay').value)} ms`,
    `for a process per connection (\`socat\` + uds-relay).`,
    `Peak memory of a relay process moving data: ${figure(row(results, 'peak RSS (Linux)', 'uds-relay moving 64 MiB').value)} MiB on Linux`,
    `(bare Node: ${figure(row(results, 'peak RSS (Linux)', 'bare node 22 (idle 300 ms)').value)} MiB), ${figure(row(results, 'peak RSS (Wine)', 'npiperelay moving data').value)} MiB under Wine;`,
    `with 16 connections open, the Windows relay processes take ${figure(row(results, memory, 'socat + npiperelay (16 processes)').value)} MiB`,
    `as 16 \`socat\` + npiperelay processes and ${figure(row(results, memory, 'relay-listen --mux (1 process)').value)} MiB as one \`--mux\` process.`,
  ]
  return wrap(sentences.join(' '), 78)
}

function wrap(text: string, width: number): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line ? `${line} ${word}` : word
    }
  }
  if (line) lines.push(line)
  return lines.join('\n')
}

/** `readme` with the text between the markers replaced by the figures of `results`. */
export function withFigures(readme: string, results: BenchResults): string {
  const begin = readme.indexOf(BEGIN)
  const end = readme.indexOf(END)
  if (begin < 0 || end < begin || readme.indexOf(BEGIN, begin + 1) >= 0 || readme.indexOf(END, end + 1) >= 0) {
    throw new Error(`README.md needs exactly one ${BEGIN} followed by one ${END}`)
  }
  return `${readme.slice(0, begin + BEGIN.length)}\n${performanceText(results)}\n${readme.slice(end)}`
}

/** Rewrite (or with `check`, only compare) `readmePath` from `resultsPath`; returns whether it was up to date. */
export function updateReadme(readmePath: string, resultsPath: string, check = false): boolean {
  const readme = fs.readFileSync(readmePath, 'utf8')
  const next = withFigures(readme, JSON.parse(fs.readFileSync(resultsPath, 'utf8')) as BenchResults)
  if (next === readme) return true
  if (!check) fs.writeFileSync(readmePath, next)
  return false
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const check = process.argv.includes('--check')
  const upToDate = updateReadme(path.join(repoRoot, 'README.md'), path.join(repoRoot, 'bench', 'results', 'latest.json'), check)
  process.stderr.write(upToDate ? 'README.md figures match bench/results/latest.json\n' : check ? 'README.md figures differ from bench/results/latest.json: run `npm run bench:readme`\n' : 'README.md figures rewritten from bench/results/latest.json\n')
  process.exitCode = check && !upToDate ? 1 : 0
}
