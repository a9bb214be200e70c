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
