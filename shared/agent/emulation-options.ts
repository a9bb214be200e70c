import { parseChoice, parseSeconds } from '../cli.js'
import type { FlagSpec } from '../go-flags.js'

/**
 * The agent-mode flags for what relaykit does in an agent's stead:
 * `--constraints emulate`, `--lock emulate`, `--confirm`, and how it asks.
 */
export const CONFIRM_MODES = ['off', 'sign', 'forwarded-sign'] as const
export type ConfirmMode = (typeof CONFIRM_MODES)[number]

export const DEFAULT_CONFIRM_TIMEOUT_S = 30

export interface EmulationOptions {
  /** `--constraints emulate`: enforce lifetime and confirm constraints here. */
  readonly constraints: boolean
  /** `--lock emulate`: answer lock and unlock here. */
  readonly lock: boolean
  readonly confirm: ConfirmMode
  readonly confirmTimeoutMs: number
  /** `--askpass PROGRAM`. */
  readonly askpass: string | undefined
}

const LIMITS =
  'Emulated lifetimes, confirmations and the lock live in the relay process: use relay-listen (in-process) or --mux so one process serves every connection; a relay run per connection (socat, --spawn) refuses constrained adds and lock. If the process dies first, a key stays in the agent: ssh-add -l lists it, ssh-add -d removes it'

export const emulationFlags: readonly FlagSpec[] = [
  {
    name: 'constraints',
    type: 'string',
    value: 'emulate',
    help: `for agents that refuse constrained keys (Pageant, Win32-OpenSSH): add the key without constraints and enforce ssh-add -t (remove it when its lifetime ends) and -c (ask before each signature) here; any other constraint (e.g. restrict-destination) is refused. ${LIMITS}`,
  },
  { name: 'lock', type: 'string', value: 'emulate', help: 'answer ssh-add -x/-X here: while locked every request but unlock is refused and the key list is empty, for clients of this relay; the lock lasts as long as the relay process (see -constraints)' },
  {
    name: 'confirm',
    type: 'string',
    value: 'sign|forwarded-sign',
    help: 'ask before every signature (sign), or only on connections that ssh marked as a forwarded agent (forwarded-sign, needs OpenSSH 8.9+ as the client)',
  },
  { name: 'confirm-timeout', type: 'string', value: 'SECONDS', help: `refuse a signature nobody answered within SECONDS (default ${DEFAULT_CONFIRM_TIMEOUT_S})` },
  {
    name: 'askpass',
    type: 'string',
    value: 'PROGRAM',
    help: 'who asks: PROGRAM gets the question as its argument and SSH_ASKPASS_PROMPT=confirm, exit 0 = yes (default: a message box on Windows, $SSH_ASKPASS elsewhere)',
  },
]

/** Read the flags above; throws FlagError. */
export function parseEmulation(flags: Readonly<Record<string, boolean | string | undefined>>): EmulationOptions {
  const emulate = (name: string) => flags[name] !== undefined && parseChoice(flags[name] as string, name, ['emulate']) === 'emulate'
  const timeout = flags['confirm-timeout']
  return {
    constraints: emulate('constraints'),
    lock: emulate('lock'),
    confirm: flags.confirm === undefined ? 'off' : parseChoice(flags.confirm as string, 'confirm', CONFIRM_MODES),
    confirmTimeoutMs: (timeout === undefined ? DEFAULT_CONFIRM_TIMEOUT_S : parseSeconds(timeout, 'confirm-timeout')) * 1000,
    askpass: typeof flags.askpass === 'string' ? flags.askpass : undefined,
  }
}

/** Does any of them ask relaykit to answer something itself? */
export function emulationActive(options: EmulationOptions): boolean {
  return options.constraints || options.lock || options.confirm !== 'off'
}
