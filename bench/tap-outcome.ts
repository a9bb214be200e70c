/**
 * The outcome of one test file, read from the TAP it printed. tap's runner
 * keeps each file's output in .tap/test-results/<file>.tap (the record
 * `tap replay` reads), whatever reporter was on screen. Only the top level
 * counts: one line per `t.test`, then the plan `1..N`.
 *
 *     ok 1 - Linux: … # time=1200ms
 *     not ok 2 - Wine: … # time=3000ms      a failed subtest
 *     ok 3 - Wine: … # SKIP no lab          a skipped subtest
 *     1..3                                  the end; missing if the file crashed or was killed
 *     1..0 # reason                         the whole file skipped (t.plan(0, reason))
 *     Bail out! reason                      stopped on purpose
 */

export type TapOutcome =
  | { status: 'passed'; skipped: string[] }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; failures: string[] }
  | { status: 'incomplete'; reason: string }

const POINT = /^(not )?ok\b(?: \d+)?(?: -)?(?: (.*?))?(?: # (SKIP|TODO)\S*(?: (.*?))?)?(?: # time=\S+)?$/i
const PLAN = /^1\.\.(\d+)(?:\s*#\s*(?:SKIP\S*\s*)?(.*))?$/i

export function tapOutcome(text: string): TapOutcome {
  const failures: string[] = []
  const skipped: string[] = []
  let points = 0
  let plan: { count: number; reason: string | undefined } | undefined
  for (const line of text.split('\n')) {
    const bail = /^\s*Bail out!\s*(.*)$/.exec(line)
    if (bail) return { status: 'failed', failures: [...failures, `bailed out: ${bail[1] || 'no reason'}`] }
    const point = POINT.exec(line)
    if (point) {
      points++
      const [, not, title = '(untitled)', directive, reason] = point
      if (directive?.toUpperCase() === 'SKIP') skipped.push(reason ? `${title} (${reason})` : title)
      else if (not && directive?.toUpperCase() !== 'TODO') failures.push(title)
      continue
    }
    const p = PLAN.exec(line)
    if (p) plan = { count: Number(p[1]), reason: p[2] }
  }
  if (failures.length) return { status: 'failed', failures }
  if (!plan) return { status: 'incomplete', reason: 'no closing plan: the file crashed, was killed or timed out' }
  if (plan.count === 0) return { status: 'skipped', reason: plan.reason || 'no tests' }
  if (plan.count !== points) return { status: 'incomplete', reason: `${points} of ${plan.count} planned tests ended` }
  return { status: 'passed', skipped }
}
