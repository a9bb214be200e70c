import { type AgentFrame, AgentMessage, HEADER_LEN, makeFrame } from './frames.js'
import { WireError, WireReader, wireString, wireUint32 } from './wire-reader.js'

/**
 * SSH_AGENT_IDENTITIES_ANSWER (draft-miller-ssh-agent §4.4):
 *
 *     byte 12 | uint32 nkeys | (string key blob | string comment) * nkeys
 *
 * and the one request that names a key by its blob first:
 *
 *     byte 13 (SSH_AGENTC_SIGN_REQUEST)  | string key blob | string data | uint32 flags
 *     byte 18 (SSH_AGENTC_REMOVE_IDENTITY) | string key blob
 */
export interface Identity {
  readonly blob: Buffer
  readonly comment: string
}

/** The keys an answer lists, or undefined when it is not a well-formed IDENTITIES_ANSWER. */
export function parseIdentities(frame: AgentFrame): Identity[] | undefined {
  if (frame.type !== AgentMessage.SSH_AGENT_IDENTITIES_ANSWER) return undefined
  const reader = new WireReader(frame.bytes, HEADER_LEN + 1)
  try {
    const count = reader.uint32('nkeys')
    const keys: Identity[] = []
    // Each key takes at least 8 bytes: a count beyond that is a lie, not an allocation.
    if (count > reader.remaining / 8) return undefined
    for (let i = 0; i < count; i++) {
      keys.push({ blob: Buffer.from(reader.string('key blob')), comment: reader.string('comment').toString('utf8') })
    }
    return keys
  } catch (err) {
    if (err instanceof WireError) return undefined
    throw err
  }
}

/** An IDENTITIES_ANSWER listing `keys` (none: what a locked agent answers). */
export function identitiesAnswer(keys: readonly Identity[] = []): AgentFrame {
  const parts = keys.flatMap((k) => [wireString(k.blob), wireString(k.comment)])
  return makeFrame(AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, Buffer.concat([wireUint32(keys.length), ...parts]))
}

/** The key blob a SIGN_REQUEST or REMOVE_IDENTITY names, or undefined when malformed. */
export function keyBlobOf(frame: AgentFrame): Buffer | undefined {
  try {
    return new WireReader(frame.bytes, HEADER_LEN + 1).string('key blob')
  } catch (err) {
    if (err instanceof WireError) return undefined
    throw err
  }
}

/** SSH_AGENTC_REMOVE_IDENTITY for `blob`. */
export function removeIdentity(blob: Uint8Array): AgentFrame {
  return makeFrame(AgentMessage.SSH_AGENTC_REMOVE_IDENTITY, wireString(blob))
}

/** SSH_AGENTC_REQUEST_IDENTITIES. */
export const REQUEST_IDENTITIES: AgentFrame = makeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)
