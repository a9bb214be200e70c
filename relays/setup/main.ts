import fs from 'node:fs'
import path from 'node:path'
import { type CliSpec, flagValueError, parseChoice, parseCli } from '../../shared/cli.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { FlagError } from '../../shared/go-flags.js'
import { selfCommand } from '../../shared/listen/background.js'
import type { RelayDefinition, RelayIo } from '../../shared/relay.js'
import { RelayError, messageOf } from '../../shared/relay-error.js'
import type { Artifact } from '../../shared/setup/artifact.js'
import { converge } from '../../shared/setup/converge.js'
import { type RunKeys, regExeRunKeys } from '../../shared/setup/run-keys.js'
import { SHELLS, type Shell } from '../../shared/setup/shell-block.js'
import { systemctlUser } from '../../shared/setup/systemctl.js'
import { userInstanceRunning } from '../../shared/setup/systemd-units.js'
import { exeOnPath, onWindowsDrive, windowsProgramsDirectory } from '../../shared/setup/windows-exe.js'
import { type WindowsClient, type WindowsSource, windowsArtifacts } from '../../shared/setup/windows-plan.js'
import { type WslTarget, describeTarget, profileOf, shellFile, wslArtifacts } from '../../shared/setup/wsl-plan.js'

export const cli: CliSpec = {
  name: 'setup',
  synopsis: 'wsl --to pageant|openssh|pipe NAME|gpg [flags]  |  pageant --to openssh|cygwin [FILE]  |  pipe NAME --to cygwin [FILE]',
  description: [
    'Puts a README recipe in place, in one command; run it again and nothing changes,',
    'add --remove and exactly what it made goes away (a manifest under',
    '~/.local/state/relaykit or %LOCALAPPDATA%\\relaykit records it).',
    'WSL: SSH_AUTH_SOCK (or gpg\'s socket) served by relay-listen, reaching Pageant, the',
    'Windows OpenSSH agent, an agent\'s named pipe or gpg4win. With a systemd user',
    'instance: a .socket + .service unit (socket activation); without: a marked',
    'block in the shell startup files that starts one listener from interactive',
    'shells. relaykit.exe on the Linux file system is copied to',
    '%LOCALAPPDATA%\\Programs\\relaykit (it starts in ~150 ms there, seconds from /home).',
    'Windows: a logon entry for this user (HKCU Run key, no admin rights) that',
    'serves Pageant or an agent\'s pipe to Windows OpenSSH or to Git Bash/MSYS2.',
  ].join('\n'),
  flags: [
    { name: 'to', type: 'string', value: 'WHAT', help: 'wsl: pageant, openssh, pipe NAME or gpg; Windows: openssh or cygwin [FILE]' },
    { name: 'dry-run', type: 'boolean', help: 'print every change, make none' },
    { name: 'remove', type: 'boolean', help: 'take away what setup made (for wsl, --to gpg selects the gpg profile)' },
    { name: 'start', type: 'string', value: 'HOW', help: 'wsl: systemd or shell (default: systemd when a user instance runs)' },
    { name: 'shell', type: 'string', value: 'LIST', help: 'wsl: bash,zsh,fish (default: $SHELL and those whose startup file exists)' },
    { name: 'exe', type: 'string', value: 'PATH', help: 'wsl: relaykit.exe for Windows (default: relaykit.exe on PATH)' },
    { name: 'windows-dir', type: 'string', value: 'DIR', help: 'wsl: where to copy an .exe that lives on the Linux file system (default %LOCALAPPDATA%\\Programs\\relaykit)' },
    { name: 'socket', type: 'string', value: 'PATH', help: 'wsl: the socket to serve (default ~/.ssh/agent.sock; gpg: ~/.gnupg/S.gpg-agent)' },
  ],
  positionals: { min: 1 },
}

/** Flags may follow the words (`setup pipe NAME --to cygwin`): flag words first, then the others, for parseCli. */
function flagsFirst(argv: readonly string[]): string[] {
  const takesValue = new Set(cli.flags.filter((f) => f.type === 'string').map((f) => f.name))
  const flags: string[] = []
  const words: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string
    if (!word.startsWith('-') || word.length < 2) words.push(word)
    else {
      flags.push(word)
      if (!word.includes('=') && takesValue.has(word.replace(/^--?/, '')) && i + 1 < argv.length) flags.push(argv[++i] as string)
    }
  }
  return [...flags, ...words]
}

type Flags = Readonly<Record<string, string | boolean | undefined>>

/** `relaykit setup SCOPE …` */
export async function main(argv: readonly string[], io: RelayIo, runKeys: RunKeys = regExeRunKeys): Promise<number> {
  const parsed = parseCli(cli, flagsFirst(argv), io)
  if (!parsed.ok) return parsed.code
  const [scope, ...words] = parsed.args as [string, ...string[]]
  const { flags } = parsed
  const command = `relaykit setup ${argv.join(' ')}`
  try {
    if (scope === 'wsl') return wsl(words, flags, io, command)
    if (scope === 'pageant' || scope === 'pipe') return windows(scope, words, flags, io, command, runKeys)
    throw new FlagError(`unknown setup "${scope}": wsl, pageant or pipe`)
  } catch (err) {
    if (err instanceof FlagError) return flagValueError(cli, io, err)
    io.stderr.write(`relaykit setup: ${messageOf(err)}\n`)
    return err instanceof RelayError ? err.exitCode : ExitCode.ERROR
  }
}

function wsl(words: readonly string[], flags: Flags, io: RelayIo, command: string): number {
  const home = requireHome(io.env)
  const target = wslTarget(flags, words, Boolean(flags.remove))
  const profile = profileOf(target)
  const manifestPath = path.join(io.env.XDG_STATE_HOME || path.join(home, '.local', 'state'), 'relaykit', `setup-${profile}.json`)
  const start = flags.start === undefined ? (userInstanceRunning(io.env) ? 'systemd' : 'shell') : parseChoice(flags.start, 'start', ['systemd', 'shell'] as const)
  const unit = `relaykit-${profile}`
  const live = userInstanceRunning(io.env)
  const dryRun = flags['dry-run'] === true
  let desired: Artifact[] = []
  if (!flags.remove) {
    const exe = windowsExe(flags, io.env)
    desired = wslArtifacts({
      target,
      home,
      env: io.env,
      relayListen: selfCommand('relay-listen'),
      windowsExe: exe.runAs,
      copyExeFrom: exe.copyFrom,
      start,
      shells: shellsFor(flags, home, io.env),
      socket: typeof flags.socket === 'string' ? path.resolve(flags.socket) : undefined,
    })
  }
  // Stop a running listener before its units go away.
  if (flags.remove && live && !dryRun) systemctlUser(['stop', `${unit}.socket`, `${unit}.service`])
  const otherManifests = (['ssh', 'gpg'] as const).filter((p) => p !== profile).map((p) => path.join(path.dirname(manifestPath), `setup-${p}.json`))
  const outcome = converge(desired, { manifestPath, command, dryRun, otherManifests })
  print(io, outcome.lines)
  if (outcome.changed && live) {
    const actions = [['daemon-reload'], ...(flags.remove || start !== 'systemd' ? [] : [['restart', `${unit}.socket`]])]
    for (const a of actions) {
      if (dryRun) io.stdout.write(`would run systemctl --user ${a.join(' ')}\n`)
      else {
        const r = systemctlUser(a)
        io.stdout.write(r.ok ? `ran systemctl --user ${a.join(' ')}\n` : `systemctl --user ${a.join(' ')} failed (${r.message}): it takes effect at the next login\n`)
      }
    }
  }
  if (!flags.remove && !dryRun) {
    const how = start === 'systemd' ? `systemd's ${unit}.socket` : 'relay-listen, started by the first interactive shell'
    io.stdout.write(`${describeTarget(target)} is served by ${how}; open a new shell to use it\n`)
  }
  return ExitCode.OK
}

function wslTarget(flags: Flags, words: readonly string[], removing: boolean): WslTarget {
  const to = flags.to ?? (removing ? 'pageant' : undefined)
  if (to === undefined) throw new FlagError('say what to reach: --to pageant, --to openssh, --to pipe NAME or --to gpg')
  const choice = parseChoice(to, 'to', ['pageant', 'openssh', 'pipe', 'gpg'] as const)
  if (choice !== 'pipe') return { to: choice }
  const pipe = words[0]
  if (!pipe && !removing) throw new FlagError('--to pipe needs the pipe name, e.g. --to pipe //./pipe/openssh-ssh-agent')
  return { to: 'pipe', pipe: pipe ?? '' }
}

/** relaykit.exe as WSL should run it, and the file to copy there when it lives on the Linux file system. */
function windowsExe(flags: Flags, env: NodeJS.ProcessEnv): { runAs: string; copyFrom: string | undefined } {
  const found = typeof flags.exe === 'string' ? path.resolve(flags.exe) : exeOnPath(env)
  if (!found) throw new FlagError('no relaykit.exe on PATH: pass --exe PATH (the relaykit.exe for Windows, from relaykit-…-win-x64.zip)')
  if (onWindowsDrive(found)) return { runAs: found, copyFrom: undefined }
  const dir = typeof flags['windows-dir'] === 'string' ? path.resolve(flags['windows-dir']) : windowsProgramsDirectory()
  if (!dir) {
    throw new RelayError(
      `${found} is on the Linux file system, where each start takes seconds; WSL interop could not tell where %LOCALAPPDATA% is: pass --windows-dir /mnt/c/Users/YOU/AppData/Local/Programs/relaykit`,
      ExitCode.USAGE,
    )
  }
  return { runAs: path.join(dir, 'relaykit.exe'), copyFrom: found }
}

/** --shell, or $SHELL's plus every shell whose startup file exists; bash when there is none. */
function shellsFor(flags: Flags, home: string, env: NodeJS.ProcessEnv): Shell[] {
  if (typeof flags.shell === 'string') return flags.shell.split(',').map((s) => parseChoice(s.trim(), 'shell', SHELLS))
  const login = path.basename(env.SHELL ?? '')
  const found = SHELLS.filter((s) => s === login || fileExists(shellFile(s, home, env)))
  return found.length ? found : ['bash']
}

function windows(scope: 'pageant' | 'pipe', words: readonly string[], flags: Flags, io: RelayIo, command: string, runKeys: RunKeys): number {
  const local = io.env.LOCALAPPDATA
  if (process.platform !== 'win32' || !local) throw new RelayError(`setup ${scope} registers a logon entry: run relaykit.exe on Windows (from WSL: setup wsl)`, ExitCode.USAGE)
  const to = parseChoice(flags.to ?? '', 'to', ['openssh', 'cygwin'] as const)
  const name = `setup-${scope}-${to}.json`
  // The manifest knows what to remove: --remove needs no pipe name or file.
  const desired = flags.remove ? [] : windowsArtifacts(process.execPath, ...windowsEnds(scope, to, words, io.env))
  const outcome = converge(desired, { manifestPath: path.win32.join(local, 'relaykit', name), command, dryRun: flags['dry-run'] === true, runKeys })
  print(io, outcome.lines)
  if (!flags.remove && flags['dry-run'] !== true) io.stdout.write('it starts at your next logon; to start it now, run the command of the logon entry above\n')
  return ExitCode.OK
}

function windowsEnds(scope: 'pageant' | 'pipe', to: 'openssh' | 'cygwin', words: readonly string[], env: NodeJS.ProcessEnv): [WindowsSource, WindowsClient] {
  const [first, second] = words
  const source: WindowsSource = scope === 'pageant' ? { agent: 'pageant' } : { agent: 'pipe', pipe: required(first, "setup pipe NAME: the agent's pipe, e.g. //./pipe/openssh-ssh-agent") }
  const file = (scope === 'pageant' ? first : second) ?? path.win32.join(env.USERPROFILE ?? '', '.ssh', 'agent.sock')
  return [source, to === 'openssh' ? { to } : { to, file: path.win32.resolve(file) }]
}

function required(word: string | undefined, what: string): string {
  if (!word) throw new FlagError(`missing ${what}`)
  return word
}

function requireHome(env: NodeJS.ProcessEnv): string {
  if (!env.HOME || !path.isAbsolute(env.HOME)) throw new RelayError('HOME is not set to an absolute path: setup needs it to find your startup files', ExitCode.USAGE)
  return env.HOME
}

function fileExists(p: string): boolean {
  try {
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

function print(io: RelayIo, lines: readonly string[]): void {
  io.stdout.write(lines.map((l) => `${l}\n`).join(''))
}

export const setup: RelayDefinition = {
  name: cli.name,
  summary: 'not a relay: puts a README recipe in place (WSL listener, systemd units, Windows logon entry); --remove undoes it',
  linked: false,
  main: (argv, io) => main(argv, io),
}
