import fs from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../../exit-codes.js'
import { RelayError } from '../../relay-error.js'

/**
 * Where gpg4win keeps its libassuan socket files: `%LOCALAPPDATA%\gnupg`
 * since Gpg4win 4.0, `%APPDATA%\gnupg` before. wsl2-ssh-pageant's
 * `--gpg NAME` looks only in the second; we try both, newest first, unless
 * `--gpgConfigBasepath` says where.
 */
export function gpgSocketPath(name: string, basepath: string | undefined, env: NodeJS.ProcessEnv): string {
  if (basepath) return (process.platform === 'win32' ? path.win32 : path).join(basepath, name)
  const candidates = gpgSocketCandidates(name, env)
  const found = candidates.find((c) => fs.existsSync(c))
  if (found) return found
  throw new RelayError(
    candidates.length
      ? `no gpg-agent socket file ${name} in ${candidates.join(' or ')}: is gpg-agent running (gpg-connect-agent /bye)? --gpgConfigBasepath names another directory`
      : `cannot locate gpg's directory: neither LOCALAPPDATA nor APPDATA is set; pass --gpgConfigBasepath`,
    ExitCode.UNAVAILABLE,
  )
}

/** Where gpg4win may keep socket file `name`, newest layout first (`%LOCALAPPDATA%`, then `%APPDATA%`). */
export function gpgSocketCandidates(name: string, env: NodeJS.ProcessEnv): string[] {
  const p = process.platform === 'win32' ? path.win32 : path
  return [env.LOCALAPPDATA, env.APPDATA].filter((d): d is string => !!d).map((d) => p.join(d, 'gnupg', name))
}
