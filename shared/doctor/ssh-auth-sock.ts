import { ExitCode } from '../exit-codes.js'
import { RelayError, messageOf } from '../relay-error.js'
import { probeAgent } from './agent-probe.js'
import { type CheckResult, agentRow, failedAt } from './check.js'
import { isPipeName } from '../channels/named-pipe/client.js'
import type { DoctorFacts } from './facts.js'

/**
 * `SSH_AUTH_SOCK`, the one setting every OpenSSH client reads: set, pointing
 * at something that exists, a socket (or, on Windows, a pipe name or a
 * Cygwin socket file), someone listening, and an agent answering.
 */

const NAME = 'SSH_AUTH_SOCK'

/** Where ssh finds its agent on this kind of machine, for the fixes. */
export type SocketContext = 'unix' | 'wsl' | 'windows'

const START_AGENT: Record<SocketContext, string> = {
  unix: 'start an agent and export its socket: eval "$(ssh-agent -s)" && ssh-add (or use your desktop\'s agent, e.g. gnome-keyring or 1Password)',
  wsl:
    'relaykit setup wsl --to pageant (or --to openssh, --to pipe NAME) puts the listener and SSH_AUTH_SOCK in place; by hand, ' +
    'in ~/.bashrc: export SSH_AUTH_SOCK=$HOME/.ssh/agent.sock and start a relay on it, e.g. ' +
    'relay-listen --background "$SSH_AUTH_SOCK" --mux -- /mnt/c/tools/relaykit.exe mux pageant-relay (README: WSL2 recipes)',
  windows: 'Git for Windows/MSYS2: start ssh-agent or ssh-pageant and export the SSH_AUTH_SOCK it prints',
}

const ADD_KEYS = 'add a key: ssh-add ~/.ssh/id_ed25519 (with a Windows agent behind a relay: load the key into Pageant or the Windows agent)'

export async function checkSshAuthSock(facts: DoctorFacts, context: SocketContext, timeoutMs: number): Promise<CheckResult> {
  const sock = facts.env.SSH_AUTH_SOCK
  if (!sock) {
    if (context === 'windows') {
      return { name: NAME, status: 'skip', detail: 'not set (Windows ssh.exe uses //./pipe/openssh-ssh-agent unless it is set)' }
    }
    return { name: NAME, status: 'fail', detail: 'not set: ssh and git find no agent', fix: START_AGENT[context] }
  }
  const pipe = context === 'windows' && isPipeName(sock)
  if (!pipe) {
    const kind = facts.fileKind(sock)
    if (kind === undefined) {
      return {
        name: NAME,
        status: 'fail',
        detail: `${sock}: no such socket (the agent or relay that made it has exited, or this shell has an old value)`,
        fix: START_AGENT[context],
      }
    }
    const acceptable = kind === 'socket' || (context === 'windows' && kind === 'file')
    if (!acceptable) {
      return {
        name: NAME,
        status: 'fail',
        detail: `${sock} is a ${kind === 'other' ? 'special file' : kind}, not a socket`,
        fix: `point SSH_AUTH_SOCK at the agent's socket (ssh-agent prints it; \`ls -l\` shows it with type "s"); ${START_AGENT[context]}`,
      }
    }
  }
  try {
    const keys = await probeAgent(() => facts.connect(sock), timeoutMs)
    return agentRow(NAME, sock, keys, ADD_KEYS)
  } catch (err) {
    return { name: NAME, status: 'fail', detail: failedAt(sock, messageOf(err)), fix: fixFor(err, context) }
  }
}

function fixFor(err: unknown, context: SocketContext): string {
  const code = err instanceof RelayError ? err.exitCode : ExitCode.ERROR
  const relayHint =
    context === 'wsl'
      ? ' If a relay serves it, run the Windows side by hand to see why it fails: /mnt/c/tools/relaykit.exe pageant-relay -v </dev/null'
      : ''
  switch (code) {
    case ExitCode.UNAVAILABLE:
      return `nobody listens on it: a stale socket. Restart the agent or relay (relay-listen replaces a stale socket itself). ${START_AGENT[context]}`
    case ExitCode.REFUSED:
      return `the socket refused us or the agent behind it failed: check its owner and permissions (it must be yours), and that the agent behind the relay runs.${relayHint}`
    case ExitCode.TIMEOUT:
      return `something accepted the connection but no agent answered: the relay behind it cannot reach its agent.${relayHint}`
    default:
      return `the agent is broken or is not an SSH agent; restart it.${relayHint}`
  }
}
