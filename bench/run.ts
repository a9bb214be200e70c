/**
 * `npm run bench`: benchmarks, not tests. They print figures and never fail
 * on a timing (they do fail on a mistake, e.g. a baseline name that matches
 * no row). Results: bench/results/latest.{json,md,svg} and the figures in
 * README.md's performance section.
 * BENCH_QUICK=1 runs fewer repetitions (for a smoke run).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { builtExecutable, repoRoot } from '../lab/built.js'
import { labStatus } from '../lab/winlab.js'
import { type BenchHost, type BenchResults, writeChart } from './chart.js'
import { benchLinux } from './linux.js'
import { updateReadme } from './readme-figures.js'
import { resultsMarkdown } from './results-markdown.js'
import { Report } from './results-table.js'
import { benchPageantServer } from './pageant-server.js'
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
  let wine: string | undefined
  if (lab.ready) {
    wine = execFileSync(lab.env.wine64, ['--version'], { encoding: 'utf8' }).trim()
    await benchWine(report, lab.env, {
      exe: builtExecutable('win-x64'),
      linuxExe: builtExecutable('linux-x64'),
      requests: quick ? 100 : 500,
      connections: quick ? 10 : 30,
      throughputMiB: quick ? 64 : 256,
    })
    await benchPageantServer(report, lab.env, { exe: builtExecutable('win-x64'), linuxExe: builtExecutable('linux-x64'), requests: quick ? 100 : 500 })
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
  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: `${host.cores} cores, ${host.memoryGiB} GiB, ${os.release()}`,
    host,
    quick,
    ...(wine ? { wine } : {}),
    rows: report.rows,
  }
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(results, null, 2) + '\n')
  fs.writeFileSync(path.join(dir, 'latest.md'), resultsMarkdown(results))
  writeChart(path.join(dir, 'latest.json'), path.join(dir, 'latest.svg'))
  updateReadme(path.join(repoRoot, 'README.md'), path.join(dir, 'latest.json'))
  process.stderr.write(`wrote ${path.relative(process.cwd(), dir)}/latest.{json,md,svg} and the figures in README.md\n`)
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
