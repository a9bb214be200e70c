import fs from 'node:fs'
import path from 'node:path'
import { parseChoice } from '../cli.js'
import { FlagError } from '../go-flags.js'
import { SHELLS, type Shell } from './shell-block.js'
import { type WslTarget, shellFile } from './wsl-plan.js'

/** `setup wsl`'s words and flags, turned into what the plan needs. */

/** --to pageant|openssh|gpg, or --to pipe NAME (NAME the first word after the flags). --remove defaults to the ssh profile. */
export function wslTarget(to: string | boolean | undefined, words: readonly string[], removing: boolean): WslTarget {
  const given = to ?? (removing ? 'pageant' : undefined)
  if (given === undefined) throw new FlagError('say what to reach: --to pageant, --to openssh, --to pipe NAME or --to gpg')
  const choice = parseChoice(given, 'to', ['pageant', 'openssh', 'pipe', 'gpg'] as const)
  if (choice !== 'pipe') return { to: choice }
  const pipe = words[0]
  if (!pipe && !removing) throw new FlagError('--to pipe needs the pipe name, e.g. --to pipe //./pipe/openssh-ssh-agent')
  return { to: 'pipe', pipe: pipe ?? '' }
}

/** --shell, or $SHELL's plus every shell whose startup file exists; bash when there is none. */
export function chooseShells(flag: string | boolean | undefined, home: string, env: NodeJS.ProcessEnv): Shell[] {
  if (typeof flag === 'string') return flag.split(',').map((s) => parseChoice(s.trim(), 'shell', SHELLS))
  const login = path.basename(env.SHELL ?? '')
  const found = SHELLS.filter((s) => s === login || fileExists(shellFile(s, home, env)))
  return found.length ? found : ['bash']
}

/** Where setup keeps the manifest of a WSL profile. */
export function wslManifestPath(home: string, env: NodeJS.ProcessEnv, profile: string): string {
  return path.join(env.XDG_STATE_HOME || path.join(home, '.local', 'state'), 'relaykit', `setup-${profile}.json`)
}

function fileExists(p: string): boolean {
  try {
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}
