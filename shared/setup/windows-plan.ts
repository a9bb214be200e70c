import path from 'node:path'
import { FlagError } from '../go-flags.js'
import type { Artifact } from './artifact.js'

/**
 * What `relaykit.exe setup pageant|pipe NAME --to …` wants on Windows: a
 * logon entry that starts relay-listen in the background, serving the
 * README's Windows recipes — Pageant (or an agent's named pipe) to Windows
 * OpenSSH's pipe, or to Git for Windows/MSYS2 through a Cygwin socket file.
 */

export type WindowsSource = { readonly agent: 'pageant' } | { readonly agent: 'pipe'; readonly pipe: string }
export type WindowsClient = { readonly to: 'openssh' } | { readonly to: 'cygwin'; readonly file: string }

export const OPENSSH_PIPE = '//./pipe/openssh-ssh-agent'

/** cmd.exe / CommandLineToArgvW: quote a word with spaces or quotes in it. */
export function windowsQuote(word: string): string {
  if (word !== '' && !/[\s"]/.test(word)) return word
  return `"${word.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1')}"`
}

export function runKeyName(source: WindowsSource, client: WindowsClient): string {
  return `relaykit ${source.agent === 'pageant' ? 'pageant' : 'pipe'} to ${client.to}`
}

export function logonCommand(exe: string, source: WindowsSource, client: WindowsClient): string[] {
  const address = client.to === 'openssh' ? [OPENSSH_PIPE] : ['--cygwin', client.file]
  const relay = source.agent === 'pageant' ? ['pageant-relay'] : ['npiperelay', '-ei', '-s', source.pipe]
  return [exe, 'relay-listen', '--background', ...address, '--', ...relay]
}

export function windowsArtifacts(exe: string, source: WindowsSource, client: WindowsClient): Artifact[] {
  return [{ kind: 'run-key', name: runKeyName(source, client), command: logonCommand(exe, source, client).map(windowsQuote).join(' ') }]
}

/** `setup pageant [FILE]` / `setup pipe NAME [FILE]` with --to: the agent and the client side. */
export function windowsEnds(scope: 'pageant' | 'pipe', to: 'openssh' | 'cygwin', words: readonly string[], env: NodeJS.ProcessEnv): [WindowsSource, WindowsClient] {
  const [first, second] = words
  if (scope === 'pipe' && !first) throw new FlagError("missing setup pipe NAME: the agent's pipe, e.g. //./pipe/openssh-ssh-agent")
  const source: WindowsSource = scope === 'pageant' ? { agent: 'pageant' } : { agent: 'pipe', pipe: first ?? '' }
  const file = (scope === 'pageant' ? first : second) ?? path.win32.join(env.USERPROFILE ?? '', '.ssh', 'agent.sock')
  return [source, to === 'openssh' ? { to } : { to, file: path.win32.resolve(file) }]
}
