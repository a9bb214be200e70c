import type { Duplex, Readable, Writable } from 'node:stream'
import { type EmulationOptions, emulationActive, emulationFlags, parseEmulation } from './emulation-options.js'
import { type AgentPolicy, parsePolicy, policyActive, policyFlags } from './policy.js'
import type { ExitCode } from '../exit-codes.js'
import { parseSeconds } from '../cli.js'
import type { FlagSpec } from '../go-flags.js'
import type { Log } from '../log.js'

/**
 * `--agent` on the byte relays (uds-relay, npiperelay): relay SSH agent
 * messages one by one instead of bytes. The relay then sees each request,
 * so it can apply a policy (`-compat`, `-deny`, which imply `--agent`),
 * answer SSH_AGENT_FAILURE when the agent stalls or vanishes instead of
 * leaving the client hanging, reconnect to a restarted agent, and with `-v`
 * log each message's direction, type name and length (never its contents).
 *
 * The flags and their parsing are all a byte relay loads; the message
 * relay, the agent client and the emulation are loaded by
 * {@link relayAgentMessages}, when a command line asks for agent mode.
 */
/** An agent may wait on a hardware key touch or a Windows Hello prompt. */
export const DEFAULT_AGENT_TIMEOUT_S = 120

export const agentModeFlags: readonly FlagSpec[] = [
  {
    name: 'agent',
    type: 'boolean',
    help: 'relay SSH agent messages one by one instead of bytes: a failed or stalled request gets SSH_AGENT_FAILURE (and the exit code of the first such failure at the end), -v logs each message type and length',
  },
  ...policyFlags,
  ...emulationFlags,
  {
    name: 'request-timeout',
    type: 'string',
    value: 'SECONDS',
    help: `how long the far side may take to answer: then agent mode answers SSH_AGENT_FAILURE, byte mode ends the connection with exit code 6 (default: agent mode ${DEFAULT_AGENT_TIMEOUT_S} s, byte mode no limit)`,
  },
]

export interface AgentMode {
  /** Relay messages, not bytes (`--agent`, or implied by a policy). */
  readonly agent: boolean
  readonly policy: AgentPolicy
  /** `--constraints`, `--lock`, `--confirm` and how to ask. */
  readonly emulation: EmulationOptions
  /** `--request-timeout`, if given. */
  readonly requestTimeoutMs: number | undefined
}

/** Read `--agent`, the policy flags and `--request-timeout`; throws FlagError. */
export function parseAgentMode(flags: Readonly<Record<string, boolean | string | undefined>>): AgentMode {
  const policy = parsePolicy(flags)
  const emulation = parseEmulation(flags)
  const timeout = flags['request-timeout']
  return {
    agent: flags.agent === true || policyActive(policy) || emulationActive(emulation),
    policy,
    emulation,
    requestTimeoutMs: timeout === undefined ? undefined : parseSeconds(timeout, 'request-timeout') * 1000,
  }
}

/**
 * Agent mode over a stream channel: `channel` is the connection the relay
 * already made (so a missing agent fails the relay as in byte mode);
 * `reconnect` opens another after the agent dropped one. `agentId` names
 * the agent for the state connections share (emulation.ts).
 */
export async function relayAgentMessages(
  io: { stdin: Readable; stdout: Writable; env: NodeJS.ProcessEnv },
  channel: Duplex,
  reconnect: () => Promise<Duplex>,
  mode: AgentMode,
  log: Log,
  agentId: string,
): Promise<ExitCode> {
  const [{ AgentStreamClient }, { emulate }, { relayAgent }] = await Promise.all([import('./client.js'), import('./emulation.js'), import('./relay.js')])
  const timeoutMs = mode.requestTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_S * 1000
  let first: Duplex | undefined = channel
  const client = new AgentStreamClient(() => {
    const ready = first
    first = undefined
    return ready ? Promise.resolve(ready) : reconnect()
  }, { timeoutMs })
  const open = () => new AgentStreamClient(reconnect, { timeoutMs })
  const query = emulate((request) => client.query(request), { id: agentId, open, options: mode.emulation, policy: mode.policy, log, env: io.env })
  try {
    return await relayAgent(io, query, { log })
  } finally {
    client.close()
  }
}
