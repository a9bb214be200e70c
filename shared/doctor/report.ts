import type { CheckResult } from './check.js'

/**
 * What doctor prints: a table for people, JSON for scripts. The table is
 * plain text (no colour, no box drawing) so it survives being pasted into
 * an issue.
 */

/** Everything one run found. */
export interface DoctorReport {
  readonly version: string
  /** `linux`, `darwin`, `win32`, plus `wsl` when Linux runs under WSL. */
  readonly platform: string
  readonly wsl: boolean
  readonly checks: readonly CheckResult[]
  /** At least one row found an agent that answered. */
  readonly usableAgent: boolean
  /** What the process exits with. */
  readonly exitCode: number
}

const LABEL: Record<CheckResult['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' }

export function renderJson(report: DoctorReport): string {
  return JSON.stringify(report, null, 2) + '\n'
}

export function renderTable(report: DoctorReport): string {
  const width = Math.max(5, ...report.checks.map((c) => c.name.length))
  const lines = [`relaykit ${report.version} doctor on ${report.platform}${report.wsl ? ' (WSL)' : ''}`, '']
  lines.push(`  ${'check'.padEnd(width)}  status  detail`)
  for (const c of report.checks) {
    lines.push(`  ${c.name.padEnd(width)}  ${LABEL[c.status].padEnd(6)}  ${c.detail}`)
    if (c.fix) lines.push(`  ${''.padEnd(width)}  ${''.padEnd(6)}  fix: ${c.fix}`)
  }
  lines.push(
    '',
    report.usableAgent
      ? 'At least one agent answers: ssh can use it (exit 0).'
      : `No agent answered: ssh has nothing to use here (exit ${report.exitCode}). Start with the first FAIL's fix.`,
    '',
  )
  return lines.join('\n')
}
