import { AGENT_FAILURE, AgentMessage, messageName } from './frames.js'
import type { AgentQuery } from './relay.js'
import { FlagError, type FlagSpec } from '../go-flags.js'
import type { Log } from '../log.js'

/**
 * What an agent-aware relay answers itself instead of asking the agent:
 *
 * - `--deny add,remove,…`: a restricted agent for forwarding to a machine
 *   you trust less. The named requests get SSH_AGENT_FAILURE, exactly what
 *   an agent answers a request it refuses, so clients report "agent refused
 *   operation" and carry on.
 * - `--compat`: OpenSSH 8.9+ sends SSH_AGENTC_EXTENSION
 *   (`session-bind@openssh.com`) after key exchange; Win32-OpenSSH's agent
 *   before 8.9, and other old agents, drop the connection on a type they do
 *   not know instead of answering FAILURE. Answering every extension request
 *   locally with FAILURE is what a modern agent without that extension does,
 *   and the client goes on to authenticate.
 */
export interface AgentPolicy {
  readonly compat: boolean
  /** Message numbers answered SSH_AGENT_FAILURE without asking the agent. */
  readonly deny: ReadonlySet<number>
}

const M = AgentMessage

/** `--deny` names and the request types each one covers (SSH1 and SSH2 forms). */
export const DENY_GROUPS: Readonly<Record<string, readonly number[]>> = {
  list: [M.SSH_AGENTC_REQUEST_RSA_IDENTITIES, M.SSH_AGENTC_REQUEST_IDENTITIES],
  sign: [M.SSH_AGENTC_RSA_CHALLENGE, M.SSH_AGENTC_SIGN_REQUEST],
  add: [
    M.SSH_AGENTC_ADD_RSA_IDENTITY,
    M.SSH_AGENTC_ADD_IDENTITY,
    M.SSH_AGENTC_ADD_RSA_ID_CONSTRAINED,
    M.SSH_AGENTC_ADD_ID_CONSTRAINED,
    M.SSH_AGENTC_ADD_SMARTCARD_KEY,
    M.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED,
  ],
  remove: [
    M.SSH_AGENTC_REMOVE_RSA_IDENTITY,
    M.SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES,
    M.SSH_AGENTC_REMOVE_IDENTITY,
    M.SSH_AGENTC_REMOVE_ALL_IDENTITIES,
    M.SSH_AGENTC_REMOVE_SMARTCARD_KEY,
  ],
  lock: [M.SSH_AGENTC_LOCK, M.SSH_AGENTC_UNLOCK],
  smartcard: [M.SSH_AGENTC_ADD_SMARTCARD_KEY, M.SSH_AGENTC_REMOVE_SMARTCARD_KEY, M.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED],
  extension: [M.SSH_AGENTC_EXTENSION],
}

/** The flags that set a policy; every agent-aware relay has them. */
export const policyFlags: readonly FlagSpec[] = [
  {
    name: 'compat',
    type: 'boolean',
    help: 'answer SSH_AGENTC_EXTENSION (session-bind@openssh.com, sent by OpenSSH 8.9+) with SSH_AGENT_FAILURE here, for agents that drop the connection on it (Win32-OpenSSH before 8.9)',
  },
  {
    name: 'deny',
    type: 'string',
    value: 'TYPES',
    help: `answer these requests with SSH_AGENT_FAILURE without asking the agent: ${Object.keys(DENY_GROUPS).join(', ')} or message numbers, joined by , or + (e.g. -deny add+remove+lock for a forwarded agent; socat splits EXEC at commas, so use + there)`,
  },
]

/** The policy the flags ask for; throws FlagError naming the valid words. */
export function parsePolicy(flags: Readonly<Record<string, boolean | string | undefined>>): AgentPolicy {
  const deny = new Set<number>()
  const spec = typeof flags.deny === 'string' ? flags.deny : ''
  for (const word of spec.split(/[,+]/).map((w) => w.trim().toLowerCase()).filter(Boolean)) {
    const group = DENY_GROUPS[word]
    const number = /^\d+$/.test(word) ? Number(word) : NaN
    if (group) group.forEach((n) => deny.add(n))
    else if (number >= 1 && number <= 255) deny.add(number)
    else throw new FlagError(`-deny: unknown request type "${word}" (use ${Object.keys(DENY_GROUPS).join(', ')} or a number 1-255)`)
  }
  return { compat: flags.compat === true, deny }
}

/** True when the policy answers anything itself. */
export function policyActive(policy: AgentPolicy): boolean {
  return policy.compat || policy.deny.size > 0
}

/** `query`, with the requests the policy covers answered locally. */
export function withPolicy(query: AgentQuery, policy: AgentPolicy, log: Log): AgentQuery {
  if (!policyActive(policy)) return query
  return (request) => {
    if (policy.deny.has(request.type)) {
      log.error(`refused ${messageName(request.type)} (-deny)`)
      return Promise.resolve(AGENT_FAILURE)
    }
    if (policy.compat && request.type === M.SSH_AGENTC_EXTENSION) {
      log.debug(`answered ${messageName(request.type)} with SSH_AGENT_FAILURE here (-compat)`)
      return Promise.resolve(AGENT_FAILURE)
    }
    return query(request)
  }
}
