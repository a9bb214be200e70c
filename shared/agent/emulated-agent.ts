import type { Constraints } from './constraints.js'
import { AgentMessage } from './frames.js'
import { fingerprint } from './key-blob.js'
import { removeIdentity } from './identities.js'
import { LockState } from './lock.js'
import type { AgentQuery } from './relay.js'
import type { Log } from '../log.js'
import { messageOf } from '../relay-error.js'

/**
 * What relaykit keeps about one upstream agent for as long as this process
 * runs, shared by every connection to it (relay-listen in-process, --mux):
 * the emulated lock, the constraints it enforces per key, the comments it
 * has seen, and whether the agent was found to drop session-bind.
 *
 * A key's lifetime is kept with a timer; when it fires, relaykit opens its
 * own connection to the agent and sends SSH_AGENTC_REMOVE_IDENTITY with the
 * key's blob. If the process ends first, nothing can remove the key: the
 * README says how to find and remove it (`ssh-add -l`, `ssh-add -d`).
 */
export interface Upstream {
  readonly query: AgentQuery
  close(): void
}

interface KeyRule {
  readonly confirm: boolean
  timer?: NodeJS.Timeout
}

/** setTimeout's limit (2^31 - 1 ms, about 24.8 days); longer lifetimes re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class EmulatedAgent {
  readonly lock = new LockState()
  #open: () => Upstream
  #rules = new Map<string, KeyRule>()
  #comments = new Map<string, string>()
  #compat = false

  constructor(open: () => Upstream) {
    this.#open = open
  }

  /** The newest way to reach the agent (each connection brings its own). */
  set open(open: () => Upstream) {
    this.#open = open
  }

  /** Signatures with this key need the user's yes. */
  needsConfirm(blob: Buffer): boolean {
    return this.#rules.get(blob.toString('hex'))?.confirm === true
  }

  /** Enforce `constraints` on the key from now on (replacing earlier ones, as ssh-agent does). */
  constrain(blob: Buffer, constraints: Constraints, log: Log): void {
    this.forget(blob)
    const rule: KeyRule = { confirm: constraints.confirm }
    this.#rules.set(blob.toString('hex'), rule)
    if (constraints.lifetimeSeconds !== undefined) {
      this.#arm(blob, rule, Date.now() + constraints.lifetimeSeconds * 1000, log)
    }
  }

  /** The key left the agent (or was added again without constraints): stop enforcing. */
  forget(blob: Buffer): void {
    const key = blob.toString('hex')
    const rule = this.#rules.get(key)
    if (!rule) return
    this.#rules.delete(key)
    clearTimeout(rule.timer)
  }

  /** Every key left the agent. */
  forgetAll(): void {
    for (const hex of [...this.#rules.keys()]) this.forget(Buffer.from(hex, 'hex'))
  }

  /** Blobs relaykit enforces something on. */
  get constrained(): Buffer[] {
    return [...this.#rules.keys()].map((hex) => Buffer.from(hex, 'hex'))
  }

  learnComment(blob: Buffer, comment: string): void {
    this.#comments.set(blob.toString('hex'), comment)
  }

  commentOf(blob: Buffer): string | undefined {
    return this.#comments.get(blob.toString('hex'))
  }

  /** The agent drops connections on session-bind: answer it here from now on. */
  get compat(): boolean {
    return this.#compat
  }

  learnCompat(): void {
    this.#compat = true
  }

  #arm(blob: Buffer, rule: KeyRule, deadline: number, log: Log): void {
    const wait = Math.max(0, deadline - Date.now())
    rule.timer = setTimeout(() => {
      if (wait > MAX_TIMER_MS) return this.#arm(blob, rule, deadline, log)
      this.#rules.delete(blob.toString('hex'))
      void this.#remove(blob, log)
    }, Math.min(wait, MAX_TIMER_MS))
  }

  async #remove(blob: Buffer, log: Log): Promise<void> {
    const fp = fingerprint(blob)
    const upstream = this.#open()
    try {
      const answer = await upstream.query(removeIdentity(blob))
      if (answer.type === AgentMessage.SSH_AGENT_SUCCESS) log.debug(`lifetime of key ${fp} ended: removed it from the agent`)
      else log.error(`lifetime of key ${fp} ended but the agent refused to remove it (gone already?); check with ssh-add -l`)
    } catch (err) {
      log.error(`lifetime of key ${fp} ended but removing it failed (${messageOf(err)}): it is still in the agent; remove it with ssh-add -d`)
    } finally {
      upstream.close()
    }
  }
}

const agents = new Map<string, EmulatedAgent>()

/**
 * The one EmulatedAgent of this process for the agent `id` names (a relay
 * name and its target): every connection to the same agent shares it.
 */
export function emulatedAgentFor(id: string, open: () => Upstream): EmulatedAgent {
  let agent = agents.get(id)
  if (agent) agent.open = open
  else agents.set(id, (agent = new EmulatedAgent(open)))
  return agent
}
