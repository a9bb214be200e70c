import { parseSeconds } from '../../shared/cli.js'
import { FlagError, type FlagSpec } from '../../shared/go-flags.js'
import type { PageantServeOptions } from '../../shared/channels/pageant/server.js'

/** relay-listen's flags for serving as Pageant (`--pageant` takes the place of SOCKET). */
export const pageantFlags: readonly FlagSpec[] = [
  { name: 'pageant', type: 'boolean', help: "be Pageant (Windows): serve PuTTY, WinSCP, FileZilla … on Pageant's named pipe and WM_COPYDATA window; no SOCKET" },
  { name: 'no-pipe', type: 'boolean', help: "with --pageant: serve the WM_COPYDATA window only" },
  { name: 'no-window', type: 'boolean', help: "with --pageant: serve Pageant's named pipe only" },
  { name: 'request-timeout', type: 'string', value: 'SECONDS', help: 'with --pageant: answer SSH_AGENT_FAILURE to a WM_COPYDATA request RELAY has not answered by then (default 60)' },
  { name: 'openssh-config', type: 'string', value: 'FILE', help: "with --pageant: write `IdentityAgent <pipe>` to FILE for Win32-OpenSSH (emptied on exit), as pageant.exe does" },
]

/**
 * The address and, with --pageant, what to serve. Throws a FlagError for
 * a SOCKET given with --pageant or missing without it, and for the
 * --pageant flags given without it.
 */
export function listenAddress(
  flags: Readonly<Record<string, boolean | string | undefined>>,
  args: readonly string[],
  command: readonly string[],
): { address: string; pageant?: PageantServeOptions } {
  const [socket] = args
  if (flags.pageant !== true) {
    const stray = pageantFlags.find((f) => f.name !== 'pageant' && flags[f.name] !== undefined && flags[f.name] !== false)
    if (stray) throw new FlagError(`--${stray.name} goes with --pageant`)
    if (socket === undefined) throw new FlagError('no SOCKET to listen on (or --pageant)')
    return { address: socket }
  }
  if (socket !== undefined) throw new FlagError(`--pageant takes no SOCKET (got ${socket}): put RELAY after --`)
  if (flags['no-pipe'] === true && flags['no-window'] === true) throw new FlagError('--no-pipe and --no-window leave nothing to serve')
  const pageant: PageantServeOptions = {
    pipe: flags['no-pipe'] !== true,
    window: flags['no-window'] !== true,
    timeoutMs: parseSeconds(flags['request-timeout'] ?? '60', 'request-timeout') * 1000,
    upstream: command.join(' '),
  }
  if (typeof flags['openssh-config'] === 'string') pageant.opensshConfig = flags['openssh-config']
  return { address: 'Pageant', pageant }
}
