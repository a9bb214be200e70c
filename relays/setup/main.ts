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
import { applyToUserInstance, systemctlUser } from '../../shared/setup/systemctl.js'
import { userInstanceRunning } from '../../shared/setup/systemd-units.js'
import { locateWindowsExe } from '../../shared/setup/windows-exe.js'
import { windowsArtifacts, windowsEnds } from '../../shared/setup/windows-plan.js'
import { chooseShells, wslManifestPath, wslTarget } from '../../shared/setup/wsl-options.js'
import { describeTarget, profileOf, wslArtifacts } from '../../shared/setup/wsl-plan.js'

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
  const target = wslTarget(flags.to, words, Boolean(flags.remove))
  const profile = profileOf(target)
  const manifestPath = wslManifestPath(home, io.env, profile)
  const start = flags.start === undefined ? (userInstanceRunning(io.env) ? 'systemd' : 'shell') : parseChoice(flags.start, 'start', ['systemd', 'shell'] as const)
  const unit = `relaykit-${profile}`
  const live = userInstanceRunning(io.env)
  const dryRun = flags['dry-run'] === true
  let desired: Artifact[] = []
  if (!flags.remove) {
    const exe = locateWindowsExe(stringFlag(flags.exe), stringFlag(flags['windows-dir']), io.env)
    desired = wslArtifacts({
      target,
      home,
      env: io.env,
      relayListen: selfCommand('relay-listen'),
      windowsExe: exe.runAs,
      copyExeFrom: exe.copyFrom,
      start,
      shells: chooseShells(flags.shell, home, io.env),
      socket: stringFlag(flags.socket) === undefined ? undefined : path.resolve(flags.socket as string),
    })
  }
  const otherManifests = (['ssh', 'gpg'] as const).filter((p) => p !== profile).map((p) => wslManifestPath(home, io.env, p))
  const outcome = converge(desired, { manifestPath, command, dryRun, otherManifests })
  print(io, outcome.lines)
  // Units removed from disk are still loaded: stop them by name before the reload forgets them.
  if (flags.remove && live && outcome.changed && !dryRun) systemctlUser(['stop', `${unit}.socket`, `${unit}.service`])
  if (outcome.changed && live) print(io, applyToUserInstance(unit, !flags.remove && start === 'systemd', dryRun))
  if (!flags.remove && !dryRun) {
    const how = start === 'systemd' ? `systemd's ${unit}.socket` : 'relay-listen, started by the first interactive shell'
    io.stdout.write(`${describeTarget(target)} is served by ${how}; open a new shell to use it\n`)
  }
  return ExitCode.OK
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

function requireHome(env: NodeJS.ProcessEnv): string {
  if (process.platform === 'win32') throw new RelayError('setup wsl sets up the Linux side: run the Linux relaykit inside WSL (Windows: setup pageant or setup pipe)', ExitCode.USAGE)
  if (!env.HOME || !path.isAbsolute(env.HOME)) throw new RelayError('HOME is not set to an absolute path: setup needs it to find your startup files', ExitCode.USAGE)
  return env.HOME
}

function stringFlag(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined
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
