import fs from 'node:fs'
import path from 'node:path'
import type { Artifact } from './artifact.js'
import { type BlockSpec, type Shell, beginMarker, blockText } from './shell-block.js'
import { serviceUnit, socketUnit, userUnitDirectory } from './systemd-units.js'

/**
 * What `relaykit setup wsl --to …` wants on the Linux side: the README's
 * WSL recipes, as files. Two profiles, each with its own socket, units,
 * block and manifest: `ssh` (SSH_AUTH_SOCK to Pageant, the Windows OpenSSH
 * agent or any agent's named pipe) and `gpg` (gpg4win's agent for gpg).
 */

export type WslTarget = { readonly to: 'pageant' | 'openssh' | 'gpg' } | { readonly to: 'pipe'; readonly pipe: string }

export interface WslOptions {
  readonly target: WslTarget
  readonly home: string
  readonly env: NodeJS.ProcessEnv
  /** The command line that runs relay-listen here (this executable). */
  readonly relayListen: readonly string[]
  /** relaykit.exe as WSL runs it (after the copy, if one is made). */
  readonly windowsExe: string
  /** Copy this file to `windowsExe` first (it lives on the Linux file system). */
  readonly copyExeFrom: string | undefined
  readonly start: 'systemd' | 'shell'
  readonly shells: readonly Shell[]
  /** The socket to serve; default ~/.ssh/agent.sock (ssh), ~/.gnupg/S.gpg-agent (gpg). */
  readonly socket: string | undefined
}

export function profileOf(target: WslTarget): 'ssh' | 'gpg' {
  return target.to === 'gpg' ? 'gpg' : 'ssh'
}

export function defaultSocket(target: WslTarget, home: string): string {
  return target.to === 'gpg' ? path.join(home, '.gnupg', 'S.gpg-agent') : path.join(home, '.ssh', 'agent.sock')
}

/** What relay-listen runs per connection (or once, with --mux), as in the README recipes. */
export function relayCommand(target: WslTarget, exe: string): string[] {
  switch (target.to) {
    case 'pageant':
      return ['--mux', '--', exe, 'mux', 'pageant-relay']
    case 'openssh':
      return ['--mux', '--', exe, 'mux', 'npiperelay', '-ei', '-s', '//./pipe/openssh-ssh-agent']
    case 'pipe':
      return ['--mux', '--', exe, 'mux', 'npiperelay', '-ei', '-s', target.pipe]
    case 'gpg':
      // libassuan, not agent frames: one relay per connection, no mux.
      return ['--', exe, 'pageant-relay', '--gpg', 'S.gpg-agent']
  }
}

export function shellFile(shell: Shell, home: string, env: NodeJS.ProcessEnv): string {
  switch (shell) {
    case 'bash':
      return path.join(home, '.bashrc')
    case 'zsh':
      return path.join(env.ZDOTDIR || home, '.zshrc')
    case 'fish':
      return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'fish', 'config.fish')
  }
}

export function wslArtifacts(o: WslOptions): Artifact[] {
  const profile = profileOf(o.target)
  const socket = o.socket ?? defaultSocket(o.target, o.home)
  const listen = [...o.relayListen, socket, ...relayCommand(o.target, o.windowsExe)]
  const artifacts: Artifact[] = []
  if (o.copyExeFrom) artifacts.push({ kind: 'file', path: o.windowsExe, content: fs.readFileSync(o.copyExeFrom), mode: 0o755 })
  if (o.start === 'systemd') {
    const dir = userUnitDirectory(o.home, o.env)
    const name = `relaykit-${profile}`
    const spec = { name, description: `relaykit: ${socket} to ${describeTarget(o.target)}`, socketPath: socket, execStart: listen }
    artifacts.push(
      { kind: 'file', path: path.join(dir, `${name}.socket`), content: Buffer.from(socketUnit(spec)), mode: 0o644 },
      { kind: 'file', path: path.join(dir, `${name}.service`), content: Buffer.from(serviceUnit(spec)), mode: 0o644 },
      // What `systemctl --user enable` makes; made here so it works before the user instance runs.
      { kind: 'symlink', path: path.join(dir, 'sockets.target.wants', `${name}.socket`), target: path.join(dir, `${name}.socket`) },
    )
  }
  const block: BlockSpec = {
    profile,
    removeCommand: `relaykit setup wsl --remove${profile === 'gpg' ? ' --to gpg' : ''}`,
    exportSocket: profile === 'ssh' ? socket : undefined,
    start: o.start === 'shell' ? [...o.relayListen, '--background', socket, ...relayCommand(o.target, o.windowsExe)] : undefined,
  }
  if (block.exportSocket || block.start) {
    for (const shell of o.shells) {
      artifacts.push({ kind: 'block', path: shellFile(shell, o.home, o.env), text: blockText(shell, block), marker: beginMarker(profile) })
    }
  }
  return artifacts
}

export function describeTarget(target: WslTarget): string {
  switch (target.to) {
    case 'pageant':
      return 'Pageant'
    case 'openssh':
      return "Windows OpenSSH's agent"
    case 'pipe':
      return `the agent on ${target.pipe}`
    case 'gpg':
      return "gpg4win's gpg-agent"
  }
}
