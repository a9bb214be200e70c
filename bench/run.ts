/**
 * `npm run bench`: benchmarks, not tests. They print figures and never fail
 * on a timing. Results: bench/results/latest.json and latest.md.
 * BENCH_QUICK=1 runs fewer repetitions (for a smoke run).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { builtExecutable, repoRoot } from '../lab/built.js'
import { labStatus } from '../lab/winlab.js'
import { type BenchHost, describeMachine, writeChart } from './chart.js'
import { benchLinux } from './linux.js'
import { Report, type Row } from './measure.js'
import { benchSoak } from './soak.js'
import { benchWine } from './wine.js'

async function main(): Promise<number> {
  const quick = process.env.BENCH_QUICK === '1'
  const report = new Report()
  process.stderr.write(`relaykit bench on ${os.cpus().length}x ${os.cpus()[0]?.model ?? 'cpu'}, ${quick ? 'quick' : 'full'} run\n`)

  await benchLinux(report, {
    exe: builtExecutable('linux-x64'),
    requests: quick ? 200 : 1000,
    connections: quick ? 30 : 100,
    throughputMiB: quick ? 64 : 256,
    startups: quick ? 10 : 25,
  })

  const lab = labStatus()
  if (lab.ready) {
    await benchWine(report, lab.env, {
      exe: builtExecutable('win-x64'),
      linuxExe: builtExecutable('linux-x64'),
      requests: quick ? 100 : 500,
      connections: quick ? 10 : 30,
      throughputMiB: quick ? 64 : 256,
    })
  } else {
    process.stderr.write(`Windows benchmarks skipped: ${lab.reason}\n`)
  }
  await benchSoak(report, { quick, ...(lab.ready ? { lab: lab.env } : {}) })

  const dir = path.join(repoRoot, 'bench', 'results')
  fs.mkdirSync(dir, { recursive: true })
  const host: BenchHost = {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
  }
  const meta = { date: new Date().toISOString(), machine: `${host.cores} cores, ${host.memoryGiB} GiB, ${os.release()}`, host, quick }
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify({ ...meta, rows: report.rows }, null, 2) + '\n')
  fs.writeFileSync(path.join(dir, 'latest.md'), markdown(meta, report.rows))
  writeChart(path.join(dir, 'latest.json'), path.join(dir, 'latest.svg'))
  process.stderr.write(`wrote ${path.relative(process.cwd(), dir)}/latest.{json,md,svg}\n`)
  return 0
}

function markdown(meta: { date: string; machine: string; host: BenchHost }, rows: readonly Row[]): string {
  const lines = [`Measured ${meta.date} on ${describeMachine(meta)}. Medians; ratio = value / baseline in the same run.`, '', '![ratios](latest.svg)', '']
  for (const group of [...new Set(rows.map((r) => r.group))]) {
    lines.push(`### ${group}`, '', '| | value | ratio |', '|---|---|---|')
    for (const r of rows.filter((x) => x.group === group)) {
      const v = r.unit === 'MiB/s' ? r.value.toFixed(1) : r.value.toFixed(2)
      lines.push(`| ${r.name} | ${v} ${r.unit} | ${r.ratio ? `x${r.ratio.toFixed(2)} of ${r.baseline}` : 'baseline'} |`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
