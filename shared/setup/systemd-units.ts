import fs from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'

/**
 * The user units that start relay-listen by socket activation: systemd
 * binds the socket at login (so SSH_AUTH_SOCK works in every shell, VS Code
 * and cron alike, with nothing in a shell file to race) and starts the
 * service on the first connection, handing the socket over.
 */

export interface UnitSpec {
  /** relaykit-ssh → relaykit-ssh.socket + relaykit-ssh.service */
  readonly name: string
  readonly description: string
  readonly socketPath: string
  /** relay-listen's full command line. */
  readonly execStart: readonly string[]
}

/** systemd.syntax(7): `%` starts a specifier and `$` a variable anywhere; quotes keep a word with spaces whole. */
export function systemdEscape(text: string): string {
  return text.replace(/%/g, '%%').replace(/\$/g, '$$$$')
}

export function systemdQuote(word: string): string {
  const escaped = systemdEscape(word)
  return /^[\w@+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replace(/[\\"]/g, '\\$&')}"`
}

/**
 * systemd refuses an executable whose path has quotes, a backslash or `$`
 * in it ("Executable name contains special characters"), however it is
 * quoted: that unit would never start, so setup says so instead.
 */
export function checkExecutable(file: string): void {
  if (/['"\\$\x00-\x1f]/.test(file)) {
    throw new RelayError(`systemd cannot start ${file}: its path has a quote, backslash or $ in it; put relaykit somewhere else (e.g. ~/.local/bin) and run setup from there`, ExitCode.USAGE)
  }
}

export function socketUnit(spec: UnitSpec): string {
  return [
    '[Unit]',
    `Description=${spec.description} (socket)`,
    '',
    '[Socket]',
    `ListenStream=${systemdEscape(spec.socketPath)}`,
    'SocketMode=0600',
    'DirectoryMode=0700',
    'RemoveOnStop=yes',
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n')
}

export function serviceUnit(spec: UnitSpec): string {
  checkExecutable(spec.execStart[0] ?? '')
  return [
    '[Unit]',
    `Description=${spec.description}`,
    `Requires=${spec.name}.socket`,
    `After=${spec.name}.socket`,
    '',
    '[Service]',
    `ExecStart=${spec.execStart.map(systemdQuote).join(' ')}`,
    '',
  ].join('\n')
}

/** ~/.config/systemd/user, or under XDG_CONFIG_HOME. */
export function userUnitDirectory(home: string, env: NodeJS.ProcessEnv): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'systemd', 'user')
}

/** A systemd user instance runs for this session when its private socket is in XDG_RUNTIME_DIR. */
export function userInstanceRunning(env: NodeJS.ProcessEnv): boolean {
  if (!env.XDG_RUNTIME_DIR) return false
  try {
    return fs.statSync(path.join(env.XDG_RUNTIME_DIR, 'systemd', 'private')).isSocket()
  } catch {
    return false
  }
}
