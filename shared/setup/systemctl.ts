import { spawnSync } from 'node:child_process'

/**
 * Telling a running systemd user instance about the units setup wrote or
 * removed. The files and the enable link are made by setup itself; this
 * only makes the change take effect now instead of at the next login.
 */
export function systemctlUser(args: readonly string[]): { ok: boolean; message: string } {
  const r = spawnSync('systemctl', ['--user', ...args], { encoding: 'utf8', timeout: 30_000 })
  const message = r.error ? r.error.message : (r.stderr || r.stdout).trim()
  return { ok: r.status === 0, message }
}

/**
 * After setup changed the units of `unit`: with a user instance running,
 * reload it and (re)start the socket so the change holds now, not only from
 * the next login. Returns what it did, or would do.
 */
export function applyToUserInstance(unit: string, startSocket: boolean, dryRun: boolean): string[] {
  const actions = [['daemon-reload'], ...(startSocket ? [['restart', `${unit}.socket`]] : [])]
  return actions.map((a) => {
    const line = `systemctl --user ${a.join(' ')}`
    if (dryRun) return `would run ${line}`
    const r = systemctlUser(a)
    return r.ok ? `ran ${line}` : `${line} failed (${r.message}): it takes effect at the next login`
  })
}
