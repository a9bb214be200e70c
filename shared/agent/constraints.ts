import { type AgentFrame, AgentMessage, HEADER_LEN, makeFrame } from './frames.js'
import { type AddedKey, readAddedKey } from './key-blob.js'
import { WireError, WireReader } from './wire-reader.js'

/**
 * Key constraints (draft-miller-ssh-agent §4.2.6, OpenSSH PROTOCOL.agent),
 * the tail of the constrained add requests:
 *
 *     byte 25 (SSH_AGENTC_ADD_ID_CONSTRAINED)
 *         key (see key-blob.ts) | string comment | constraint*
 *     byte 26 (SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED)
 *         string reader id | string PIN | constraint*
 *
 *     constraint:
 *       byte 1   SSH_AGENT_CONSTRAIN_LIFETIME   uint32 seconds
 *       byte 2   SSH_AGENT_CONSTRAIN_CONFIRM    (nothing)
 *       byte 255 SSH_AGENT_CONSTRAIN_EXTENSION  string name | name-specific data
 *       byte 3   the extension, as older drafts numbered it (OpenSSH uses 3
 *                for its XMSS "maxsign" constraint; relaykit can enforce
 *                neither, so both readings end in a refusal)
 *
 * relaykit can enforce a lifetime and a confirmation itself. An extension
 * (`restrict-destination-v00@openssh.com`, `sk-provider@openssh.com`, …)
 * it cannot: such an add is refused whole ({@link ConstraintError}), never
 * added with the constraint silently dropped.
 */
export const Constraint = {
  SSH_AGENT_CONSTRAIN_LIFETIME: 1,
  SSH_AGENT_CONSTRAIN_CONFIRM: 2,
  SSH_AGENT_CONSTRAIN_EXTENSION_OLD: 3,
  SSH_AGENT_CONSTRAIN_EXTENSION: 255,
} as const

/** The constraints relaykit enforces. */
export interface Constraints {
  /** Seconds until the key is removed, if limited. */
  readonly lifetimeSeconds?: number
  /** Every signature with the key needs the user's yes. */
  readonly confirm: boolean
}

/** A constrained add, split into what goes upstream and what relaykit keeps. */
export type ConstrainedAdd =
  | { readonly kind: 'key'; readonly key: AddedKey; readonly unconstrained: AgentFrame; readonly constraints: Constraints }
  | { readonly kind: 'smartcard'; readonly unconstrained: AgentFrame; readonly constraints: Constraints }

/** A constrained add relaykit must refuse; `message` says why (no secrets in it). */
export class ConstraintError extends Error {
  override name = 'ConstraintError'
}

/** Is `frame` one of the two constrained adds? */
export function isConstrainedAdd(frame: AgentFrame): boolean {
  return frame.type === AgentMessage.SSH_AGENTC_ADD_ID_CONSTRAINED || frame.type === AgentMessage.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED
}

/**
 * Split a constrained add into the same add without constraints (type 17
 * or 20, the bytes up to the constraints unchanged) and the constraints.
 * Throws {@link ConstraintError} for anything relaykit cannot enforce or read.
 */
export function parseConstrainedAdd(frame: AgentFrame): ConstrainedAdd {
  const reader = new WireReader(frame.bytes, HEADER_LEN + 1)
  try {
    if (frame.type === AgentMessage.SSH_AGENTC_ADD_ID_CONSTRAINED) {
      const key = readAddedKey(reader)
      const unconstrained = makeFrame(AgentMessage.SSH_AGENTC_ADD_IDENTITY, reader.since(HEADER_LEN + 1))
      return { kind: 'key', key, unconstrained, constraints: readConstraints(reader) }
    }
    if (frame.type === AgentMessage.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED) {
      reader.string('reader id')
      reader.string('PIN')
      const unconstrained = makeFrame(AgentMessage.SSH_AGENTC_ADD_SMARTCARD_KEY, reader.since(HEADER_LEN + 1))
      return { kind: 'smartcard', unconstrained, constraints: readConstraints(reader) }
    }
  } catch (err) {
    if (err instanceof WireError) throw new ConstraintError(`malformed constrained add: ${err.message}`)
    throw err
  }
  throw new ConstraintError(`message type ${frame.type} is not a constrained add`)
}

/** The constraints that fill the rest of the message (possibly none). */
function readConstraints(reader: WireReader): Constraints {
  let lifetimeSeconds: number | undefined
  let confirm = false
  while (reader.remaining > 0) {
    const id = reader.byte('constraint type')
    if (id === Constraint.SSH_AGENT_CONSTRAIN_LIFETIME) {
      if (lifetimeSeconds !== undefined) throw new ConstraintError('lifetime constraint given twice')
      lifetimeSeconds = reader.uint32('lifetime')
    } else if (id === Constraint.SSH_AGENT_CONSTRAIN_CONFIRM) {
      if (confirm) throw new ConstraintError('confirm constraint given twice')
      confirm = true
    } else if (id === Constraint.SSH_AGENT_CONSTRAIN_EXTENSION || id === Constraint.SSH_AGENT_CONSTRAIN_EXTENSION_OLD) {
      throw new ConstraintError(`constraint extension ${extensionNameOf(reader)} cannot be enforced by relaykit`)
    } else {
      throw new ConstraintError(`unknown constraint type ${id}`)
    }
  }
  return lifetimeSeconds === undefined ? { confirm } : { lifetimeSeconds, confirm }
}

// For the refusal's log line only: a client chose this name.
function extensionNameOf(reader: WireReader): string {
  try {
    const name = reader.string('extension name').toString('latin1')
    return JSON.stringify(name.slice(0, 80).replace(/[^\x20-\x7e]/g, '?'))
  } catch {
    return '(without a readable name)'
  }
}
