/**
 * The block setup adds to a shell startup file when there is no systemd
 * user instance, and the text operations on it. The block starts the
 * listener only where that is wanted:
 *
 * - interactive shells only: scripts, `ssh host cmd`, `bash -c` start
 *   nothing;
 * - not while VS Code resolves the environment (it runs an interactive
 *   login shell with VSCODE_RESOLVING_ENVIRONMENT set and waits for it);
 * - once, however many shells start: `relay-listen --background` exits 0 at
 *   once when a live listener of this user already serves the socket, and
 *   the detached listener holds none of the shell's stdio.
 */

export type Shell = 'bash' | 'zsh' | 'fish'
export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish']

/** What the block does: export the socket, start the listener (or only export, when systemd starts it). */
export interface BlockSpec {
  readonly profile: string
  /** The command that takes it out again, for whoever reads the file. */
  readonly removeCommand: string
  /** Exported as SSH_AUTH_SOCK, when the profile serves ssh. */
  readonly exportSocket: string | undefined
  /** relay-listen --background … in full; undefined when systemd starts the listener. */
  readonly start: readonly string[] | undefined
}

export function beginMarker(profile: string): string {
  return `# >>> relaykit setup: ${profile} >>>`
}

function endMarker(profile: string): string {
  return `# <<< relaykit setup: ${profile} <<<`
}

/** POSIX shells: everything literal inside single quotes. */
export function shQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/** fish: inside single quotes only \ and ' are special. */
export function fishQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/[\\']/g, '\\$&')}'`
}

export function blockText(shell: Shell, spec: BlockSpec): string {
  const lines = [beginMarker(spec.profile), `# Written by relaykit setup; \`${spec.removeCommand}\` takes it out.`]
  if (shell === 'fish') {
    if (spec.exportSocket) lines.push(`set -gx SSH_AUTH_SOCK ${fishQuote(spec.exportSocket)}`)
    if (spec.start) {
      lines.push('if status is-interactive; and not set -q VSCODE_RESOLVING_ENVIRONMENT', `    ${spec.start.map(fishQuote).join(' ')}`, 'end')
    }
  } else {
    if (spec.exportSocket) lines.push(`export SSH_AUTH_SOCK=${shQuote(spec.exportSocket)}`)
    if (spec.start) {
      lines.push(`case $- in *i*) [ -n "\${VSCODE_RESOLVING_ENVIRONMENT-}" ] || ${spec.start.map(shQuote).join(' ')} ;; esac`)
    }
  }
  lines.push(endMarker(spec.profile))
  return lines.join('\n') + '\n'
}

/** How many blocks with this first line `content` holds (a second one can only be someone else's). */
export function countBlocks(content: string, marker: string): number {
  return content.split('\n').filter((line) => line.trimEnd() === marker).length
}

/** What to append so the block stands on its own lines after a blank one. */
export function insertion(content: string, block: string): string {
  if (content === '') return block
  return (content.endsWith('\n') ? '\n' : '\n\n') + block
}

/** `content` without the last copy of `inserted`, or undefined when it is not there (edited since). */
export function withoutInserted(content: string, inserted: string): string | undefined {
  const at = content.lastIndexOf(inserted)
  if (at < 0) return undefined
  return content.slice(0, at) + content.slice(at + inserted.length)
}
