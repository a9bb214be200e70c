import { AGENT_FAILURE, type AgentFrame, AgentMessage, extensionName, messageName } from './frames.js'
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
 *
 * Agents also add, remove and lock keys through SSH_AGENTC_EXTENSION
 * requests (Pageant's `add-ppk@putty.projects.tartarus.org` adds a key like
 * SSH_AGENTC_ADD_IDENTITY does), so a `-deny` group covers the extensions
 * that do what its message numbers do, matched by the extension's name
 * ({@link DENY_EXTENSIONS}). An extension relaykit does not know could do
 * anything, so while any `-deny` is in effect it is refused too: a
 * restricted agent forwards only the extensions it can vouch for
 * ({@link KNOWN_EXTENSIONS}). `-deny ext:NAME` refuses one extension by its
 * exact name (and, being a -deny, the unknown ones too); `query` is never
 * refused by name. Without `-deny` every extension is forwarded.
 */
export interface AgentPolicy {
  readonly compat: boolean
  /** Message numbers answered SSH_AGENT_FAILURE without asking the agent. */
  readonly deny: ReadonlySet<number>
  /** SSH_AGENTC_EXTENSION names answered SSH_AGENT_FAILURE without asking the agent. */
  readonly denyExtensions: ReadonlySet<string>
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

const PUTTY = (name: string): string => `${name}@putty.projects.tartarus.org`

/**
 * The extensions each `-deny` group also covers, by name. PuTTY's Pageant
 * (0.78, `pageant.h` KNOWN_EXTENSIONS): `add-ppk` loads a key from a .ppk
 * file; `reencrypt` and `reencrypt-all` throw away the decrypted form of one
 * or every key, which then cannot sign until the passphrase is typed again
 * on the agent's machine: to the client that is a removed key or a locked
 * agent, so both groups cover both; `list-extended` lists keys.
 */
export const DENY_EXTENSIONS: Readonly<Record<string, readonly string[]>> = {
  list: [PUTTY('list-extended')],
  add: [PUTTY('add-ppk')],
  remove: [PUTTY('reencrypt'), PUTTY('reencrypt-all')],
  lock: [PUTTY('reencrypt'), PUTTY('reencrypt-all')],
}

/**
 * Extensions a `-deny` policy forwards when no group covers them, because
 * they change no key: OpenSSH's `session-bind@openssh.com` (binds the
 * connection to the server's host key, which is what lets an agent enforce
 * destination constraints) and the standard `query` (lists extension names).
 * OpenSSH's agent has no other extension; its key constraints travel inside
 * SSH_AGENTC_ADD_ID_CONSTRAINED, which `add` already covers.
 */
export const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([
  'session-bind@openssh.com',
  'query',
  ...Object.values(DENY_EXTENSIONS).flat(),
])

/** The flags that set a policy; every agent-aware relay has them. */
export const policyFlags: readonly FlagSpec[] = [
  {
    name: 'compat',
    type: 'boolean',
    help: 'answer SSH_AGENTC_EXTENSION (session-bind@openssh.com, sent by OpenSSH 8.9+) with SSH_AGENT_FAILURE here, for agents that drop the connection on it (Win32-OpenSSH before 8.9); agent mode also finds such an agent by itself and then answers session-bind here',
  },
  {
    name: 'deny',
    type: 'string',
    value: 'TYPES',
    help: `answer these requests with SSH_AGENT_FAILURE without asking the agent: ${Object.keys(DENY_GROUPS).join(', ')} or message numbers, joined by , or + (e.g. -deny add+remove+lock for a forwarded agent; socat splits EXEC at commas, so use + there), or ext:NAME for one SSH_AGENTC_EXTENSION by name (query always passes); the groups also cover the extensions that do the same (Pageant's add-ppk, reencrypt), and with any -deny an extension relaykit does not know is refused`,
  },
]

/** The policy the flags ask for; throws FlagError naming the valid words. */
export function parsePolicy(flags: Readonly<Record<string, boolean | string | undefined>>): AgentPolicy {
  const deny = new Set<number>()
  const denyExtensions = new Set<string>()
  const spec = typeof flags.deny === 'string' ? flags.deny : ''
  for (const raw of spec.split(/[,+]/).map((w) => w.trim()).filter(Boolean)) {
    if (/^ext:/i.test(raw)) {
      denyExtensions.add(extensionWord(raw.slice(4)))
      continue
    }
    const word = raw.toLowerCase()
    const group = DENY_GROUPS[word]
    const number = /^\d+$/.test(word) ? Number(word) : NaN
    if (group) group.forEach((n) => deny.add(n))
    else if (number >= 1 && number <= 255) deny.add(number)
    else throw new FlagError(`-deny: unknown request type "${word}" (use ${Object.keys(DENY_GROUPS).join(', ')} or a number 1-255)`)
    DENY_EXTENSIONS[word]?.forEach((name) => denyExtensions.add(name))
  }
  return { compat: flags.compat === true, deny, denyExtensions }
}

/**
 * `-deny ext:NAME`: one extension by its exact name. `query` only lists
 * extension names and changes nothing, so it is never refused by name.
 */
function extensionWord(name: string): string {
  if (name === '') throw new FlagError('-deny ext: needs an extension name, e.g. ext:add-ppk@putty.projects.tartarus.org')
  if (name === 'query') throw new FlagError('-deny ext:query: the query extension only lists extension names and always passes')
  return name
}

/** True when the policy answers anything itself. */
export function policyActive(policy: AgentPolicy): boolean {
  return policy.compat || policy.deny.size > 0 || policy.denyExtensions.size > 0
}

/** `query`, with the requests the policy covers answered locally. */
export function withPolicy(query: AgentQuery, policy: AgentPolicy, log: Log): AgentQuery {
  if (!policyActive(policy)) return query
  return (request) => {
    const refusal = refusalOf(request, policy)
    if (refusal !== undefined) {
      log.error(`refused ${refusal} (-deny)`)
      return Promise.resolve(AGENT_FAILURE)
    }
    if (policy.compat && request.type === M.SSH_AGENTC_EXTENSION) {
      log.debug(`answered ${messageName(request.type)} with SSH_AGENT_FAILURE here (-compat)`)
      return Promise.resolve(AGENT_FAILURE)
    }
    return query(request)
  }
}

/** What `-deny` refuses `request` as (for the log), or undefined when it passes. */
function refusalOf(request: AgentFrame, policy: AgentPolicy): string | undefined {
  if (policy.deny.has(request.type)) return messageName(request.type)
  if (request.type !== M.SSH_AGENTC_EXTENSION || (policy.deny.size === 0 && policy.denyExtensions.size === 0)) return undefined
  const name = extensionName(request)
  if (name === undefined) return `${messageName(request.type)} without a valid name`
  if (policy.denyExtensions.has(name)) return `${messageName(request.type)} ${printable(name)}`
  if (!KNOWN_EXTENSIONS.has(name)) return `${messageName(request.type)} ${printable(name)}, an extension relaykit does not know`
  return undefined
}

// A client chooses the name: keep the log to one short line of ASCII.
function printable(name: string): string {
  return JSON.stringify(name.slice(0, 80).replace(/[^\x20-\x7e]/g, '?'))
}
