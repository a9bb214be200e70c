/**
 * One row of `relaykit doctor`: what was checked, how it went, what it
 * found, and, when something is wrong, the fix in words a user can follow.
 */

/** ok: works. warn: works, or is optional, but something should change. fail: broken. skip: does not apply here. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface CheckResult {
  /** Short name of what was checked ("SSH_AUTH_SOCK", "Pageant window" …). */
  readonly name: string
  readonly status: CheckStatus
  /** What was found: paths, key counts, the error. Never key material. */
  readonly detail: string
  /** What to do about a warn or fail. */
  readonly fix?: string
  /** This row found an agent that answered REQUEST_IDENTITIES: ssh can use it. */
  readonly usableAgent?: boolean
}

/** Whether any row found an agent ssh can use (what the exit code reports). */
export function anyUsableAgent(results: readonly CheckResult[]): boolean {
  return results.some((r) => r.usableAgent === true)
}

/** An error's message, prefixed with `where` unless it already names it. */
export function failedAt(where: string, message: string): string {
  return message.includes(where) ? message : `${where}: ${message}`
}

/** "1 key", "3 keys". */
export function keyCount(n: number): string {
  return `${n} key${n === 1 ? '' : 's'}`
}

/**
 * The row for an agent that answered: ok with its key count, or warn when
 * it holds none (it works, ssh just has nothing to offer).
 */
export function agentRow(name: string, where: string, keys: number, addKeys: string): CheckResult {
  return keys > 0
    ? { name, status: 'ok', detail: `${where}: the agent answers, ${keyCount(keys)}`, usableAgent: true }
    : { name, status: 'warn', detail: `${where}: the agent answers but holds no keys`, fix: addKeys, usableAgent: true }
}
