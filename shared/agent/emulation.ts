import { askerFor, type Ask, promptText } from './confirm.js'
import { type ConstrainedAdd, ConstraintError, isConstrainedAdd, parseConstrainedAdd } from './constraints.js'
import { type EmulatedAgent, type Upstream, emulatedAgentFor } from './emulated-agent.js'
import { type EmulationOptions, emulationActive } from './emulation-options.js'
import { AGENT_FAILURE, type AgentFrame, AgentMessage, HEADER_LEN, makeFrame } from './frames.js'
import { REQUEST_IDENTITIES, identitiesAnswer, keyBlobOf, parseIdentities } from './identities.js'
import { fingerprint, readAddedKey } from './key-blob.js'
import { type AgentPolicy, withPolicy } from './policy.js'
import { sharedProcess } from './process-scope.js'
import type { AgentQuery } from './relay.js'
import { ConnectionBinding, parseSessionBind } from './session-bind.js'
import { WireReader } from './wire-reader.js'
import { ExitCode } from '../exit-codes.js'
import type { Log } from '../log.js'
import { RelayError } from '../relay-error.js'

/**
 * One client connection's requests, with relaykit answering in the agent's
 * stead what the options ask it to (see emulation-options.ts), on the state
 * every connection to that agent shares ({@link EmulatedAgent}):
 *
 * | request | what relaykit does |
 * |---|---|
 * | any, while the emulated lock is on | REQUEST_IDENTITIES: an empty list; UNLOCK: checks the passphrase; else FAILURE |
 * | LOCK / UNLOCK (`--lock emulate`) | answered here, never sent on |
 * | ADD_ID_CONSTRAINED / ADD_SMARTCARD_KEY_CONSTRAINED (`--constraints emulate`) | sent on without constraints; lifetime and confirm kept here; anything else: FAILURE, nothing sent |
 * | ADD_IDENTITY, REMOVE_* | sent on; on success the key's constraints end here too |
 * | SIGN_REQUEST | asks the user first when the key has a confirm constraint, or per `--confirm` |
 * | session-bind@openssh.com | noted for `--confirm forwarded-sign` and the prompt; answered FAILURE here once the agent was seen to drop the connection on it |
 */
export interface EmulationContext {
  readonly options: EmulationOptions
  readonly agent: EmulatedAgent
  readonly log: Log
  readonly env: NodeJS.ProcessEnv
  /** What this connection's session-binds said (recorded by {@link emulate} before any policy answers them). */
  readonly binding?: ConnectionBinding
}

const M = AgentMessage
const SUCCESS = makeFrame(M.SSH_AGENT_SUCCESS)

export function withEmulation(query: AgentQuery, ctx: EmulationContext): AgentQuery {
  const session = new Session(query, ctx)
  return (request) => session.answer(request)
}

class Session {
  readonly #query: AgentQuery
  readonly #ctx: EmulationContext
  readonly #binding: ConnectionBinding
  readonly #recordsBinds: boolean
  readonly #ask: Ask

  constructor(query: AgentQuery, ctx: EmulationContext) {
    this.#query = query
    this.#ctx = ctx
    this.#recordsBinds = ctx.binding === undefined
    this.#binding = ctx.binding ?? new ConnectionBinding()
    this.#ask = askerFor({ program: ctx.options.askpass, timeoutMs: ctx.options.confirmTimeoutMs, env: ctx.env })
  }

  async answer(request: AgentFrame): Promise<AgentFrame> {
    const { options, agent } = this.#ctx
    if (options.lock && (agent.lock.locked || request.type === M.SSH_AGENTC_LOCK || request.type === M.SSH_AGENTC_UNLOCK)) return this.#locking(request)
    switch (request.type) {
      case M.SSH_AGENTC_EXTENSION:
        return this.#extension(request)
      case M.SSH_AGENTC_SIGN_REQUEST:
        return (await this.#allowed(request)) ? this.#query(request) : AGENT_FAILURE
      case M.SSH_AGENTC_REQUEST_IDENTITIES:
        return emulationActive(options) ? this.#learnComments(await this.#query(request)) : this.#query(request)
      case M.SSH_AGENTC_ADD_ID_CONSTRAINED:
      case M.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
        return options.constraints ? this.#constrainedAdd(request) : this.#query(request)
      case M.SSH_AGENTC_ADD_IDENTITY:
      case M.SSH_AGENTC_REMOVE_IDENTITY:
      case M.SSH_AGENTC_REMOVE_ALL_IDENTITIES:
      case M.SSH_AGENTC_REMOVE_SMARTCARD_KEY:
        return this.#keyChange(request)
      default:
        return this.#query(request)
    }
  }

  async #locking(request: AgentFrame): Promise<AgentFrame> {
    const { agent, log } = this.#ctx
    if (request.type === M.SSH_AGENTC_LOCK) {
      if (!sharedProcess()) {
        log.error('refused SSH_AGENTC_LOCK: a relay run per connection cannot keep a lock after this connection (use relay-listen in-process or --mux)')
        return AGENT_FAILURE
      }
      const locked = agent.lock.lock(request)
      log.debug(locked ? 'locked (emulated)' : 'refused SSH_AGENTC_LOCK: already locked or malformed')
      return locked ? SUCCESS : AGENT_FAILURE
    }
    if (request.type === M.SSH_AGENTC_UNLOCK) {
      const unlocked = await agent.lock.unlock(request)
      log.debug(unlocked ? 'unlocked (emulated)' : 'refused SSH_AGENTC_UNLOCK: not locked, or not the passphrase that locked')
      return unlocked ? SUCCESS : AGENT_FAILURE
    }
    // ssh-agent's rule while locked: the key list is empty, everything else fails.
    return request.type === M.SSH_AGENTC_REQUEST_IDENTITIES ? identitiesAnswer() : AGENT_FAILURE
  }

  async #extension(request: AgentFrame): Promise<AgentFrame> {
    const bind = parseSessionBind(request)
    if (!bind) return this.#query(request)
    if (this.#recordsBinds) this.#binding.record(bind)
    const { agent, log } = this.#ctx
    if (agent.compat) return AGENT_FAILURE
    try {
      return await this.#query(request)
    } catch (err) {
      // Old agents (Win32-OpenSSH before 8.9) hang up on a message type they
      // do not know. Learn it once, answer as an agent without the extension
      // would, and let the next request reopen the connection.
      if (!(err instanceof RelayError) || err.exitCode !== ExitCode.UNAVAILABLE) throw err
      agent.learnCompat()
      log.error('the agent dropped the connection on session-bind@openssh.com: answering it here from now on (as -compat does)')
      return AGENT_FAILURE
    }
  }

  async #allowed(request: AgentFrame): Promise<boolean> {
    const { options, agent, log } = this.#ctx
    const blob = keyBlobOf(request)
    if (!blob) return true // malformed: the agent refuses it without signing anything
    const ask =
      agent.needsConfirm(blob) || options.confirm === 'sign' || (options.confirm === 'forwarded-sign' && this.#binding.forwarded)
    if (!ask) return true
    const prompt = promptText({
      keyBlob: blob,
      comment: await this.#commentOf(blob),
      hostKey: this.#binding.hostKey,
      forwarded: this.#binding.forwarded,
    })
    log.debug(`asking before a signature with key ${fingerprint(blob)}`)
    const result = await this.#ask(prompt)
    if (!result.allowed) log.error(`refused a signature with key ${fingerprint(blob)}: ${result.why}`)
    else log.debug(`the user allowed a signature with key ${fingerprint(blob)}`)
    return result.allowed
  }

  async #commentOf(blob: Buffer): Promise<string | undefined> {
    const { agent } = this.#ctx
    if (agent.commentOf(blob) === undefined) this.#learnComments(await this.#query(REQUEST_IDENTITIES))
    return agent.commentOf(blob)
  }

  #learnComments(answer: AgentFrame): AgentFrame {
    for (const key of parseIdentities(answer) ?? []) this.#ctx.agent.learnComment(key.blob, key.comment)
    return answer
  }

  async #constrainedAdd(request: AgentFrame): Promise<AgentFrame> {
    const { log } = this.#ctx
    let add: ConstrainedAdd
    try {
      // socat and sshd end a relay they started when its connection ends:
      // nothing would be left to remove the key or to ask for it.
      if (!sharedProcess()) throw new ConstraintError('a relay run per connection cannot keep constraints after this connection (use relay-listen in-process or --mux)')
      add = parseConstrainedAdd(request)
    } catch (err) {
      if (!(err instanceof ConstraintError) || !isConstrainedAdd(request)) throw err
      log.error(`refused a constrained add: ${err.message}`)
      return AGENT_FAILURE
    }
    return add.kind === 'key' ? this.#addKey(add) : this.#addSmartcard(add)
  }

  async #addKey(add: Extract<ConstrainedAdd, { kind: 'key' }>): Promise<AgentFrame> {
    const { agent, log } = this.#ctx
    const answer = await this.#query(add.unconstrained)
    if (answer.type !== M.SSH_AGENT_SUCCESS) return answer
    agent.learnComment(add.key.blob, add.key.comment)
    agent.constrain(add.key.blob, add.constraints, log)
    log.debug(`added key ${fingerprint(add.key.blob)} with constraints kept here (${describe(add.constraints)})`)
    return answer
  }

  // The keys a card adds are the ones listed after the add and not before.
  async #addSmartcard(add: Extract<ConstrainedAdd, { kind: 'smartcard' }>): Promise<AgentFrame> {
    const { agent, log } = this.#ctx
    const before = new Set((parseIdentities(await this.#query(REQUEST_IDENTITIES)) ?? []).map((k) => k.blob.toString('hex')))
    const answer = await this.#query(add.unconstrained)
    if (answer.type !== M.SSH_AGENT_SUCCESS) return answer
    const after = parseIdentities(await this.#query(REQUEST_IDENTITIES)) ?? []
    for (const key of after.filter((k) => !before.has(k.blob.toString('hex')))) {
      agent.learnComment(key.blob, key.comment)
      agent.constrain(key.blob, add.constraints, log)
      log.debug(`smartcard key ${fingerprint(key.blob)} added with constraints kept here (${describe(add.constraints)})`)
    }
    return answer
  }

  async #keyChange(request: AgentFrame): Promise<AgentFrame> {
    const { agent, options } = this.#ctx
    const answer = await this.#query(request)
    if (!options.constraints || answer.type !== M.SSH_AGENT_SUCCESS) return answer
    if (request.type === M.SSH_AGENTC_REMOVE_ALL_IDENTITIES) agent.forgetAll()
    else if (request.type === M.SSH_AGENTC_REMOVE_SMARTCARD_KEY) await this.#forgetMissing()
    else {
      const blob = request.type === M.SSH_AGENTC_REMOVE_IDENTITY ? keyBlobOf(request) : addedBlobOf(request)
      if (blob) agent.forget(blob)
    }
    return answer
  }

  async #forgetMissing(): Promise<void> {
    const listed = new Set((parseIdentities(await this.#query(REQUEST_IDENTITIES)) ?? []).map((k) => k.blob.toString('hex')))
    for (const blob of this.#ctx.agent.constrained) if (!listed.has(blob.toString('hex'))) this.#ctx.agent.forget(blob)
  }
}

// An unconstrained add of a key relaykit constrains replaces its constraints, as in ssh-agent.
function addedBlobOf(request: AgentFrame): Buffer | undefined {
  try {
    return readAddedKey(new WireReader(request.bytes, HEADER_LEN + 1)).blob
  } catch {
    return undefined
  }
}

function describe(c: { lifetimeSeconds?: number; confirm: boolean }): string {
  const parts = [c.lifetimeSeconds !== undefined ? `lifetime ${c.lifetimeSeconds} s` : '', c.confirm ? 'confirm' : ''].filter(Boolean)
  return parts.join(', ') || 'none'
}

/** What {@link emulate} needs to know about the agent and the connection. */
export interface EmulateOptions {
  /** Names the agent (relay and target): connections with the same id share state. */
  readonly id: string
  /** Opens a connection of relaykit's own, for removing a key whose lifetime ended. */
  readonly open: () => Upstream
  readonly options: EmulationOptions
  readonly policy: AgentPolicy
  readonly log: Log
  readonly env: NodeJS.ProcessEnv
}

/**
 * What one client connection's requests go through in agent mode:
 * session-binds noted first (so `-compat` or `-deny` answering them does
 * not hide a forwarded connection from `--confirm forwarded-sign`), then
 * the `-deny`/`-compat` policy, then the emulation, then the agent.
 */
export function emulate(query: AgentQuery, o: EmulateOptions): AgentQuery {
  const binding = new ConnectionBinding()
  const emulated = withEmulation(query, { options: o.options, agent: emulatedAgentFor(o.id, o.open), log: o.log, env: o.env, binding })
  const policed = withPolicy(emulated, o.policy, o.log)
  return (request) => {
    const bind = parseSessionBind(request)
    if (bind) binding.record(bind)
    return policed(request)
  }
}
