import { AGENT_FAILURE_FRAME, type AgentFrame, HEADER_LEN, frameOf } from '../../agent/frames.js'
import { COPYDATA_MAX_LEN } from './wm-copydata.js'
import type { OpenedMapping } from '../../win32/file-mapping.js'

/**
 * Pageant's side of its WM_COPYDATA protocol (the client's side is
 * wm-copydata.ts), with the checks Pageant makes before it trusts a mapping:
 *
 *     client's mapping, owned by the client's user
 *     +-----------------------+--------------------------------+
 *     | uint32 BE length | request (length bytes)              |   in
 *     | uint32 BE length | answer, replacing it                |   out
 *     +-----------------------+--------------------------------+
 *
 * - the owner must be this user's SID or the token's default owner (the
 *   mapping name is visible to every process: another user's mapping could
 *   feed us requests and read our answers), and the mapping must hold at
 *   least a length and a type byte; otherwise: no answer (the window
 *   returns 0);
 * - a length that does not fit the mapping is answered SSH_AGENT_FAILURE
 *   without reading further, as Pageant 0.78 does; so is one over
 *   AGENT_MAX_MSGLEN (which Pageant would read, but no relay can carry) and
 *   a length of 0 (no type byte: Pageant cannot parse it either);
 * - an answer that does not fit the mapping becomes SSH_AGENT_FAILURE.
 */

/** What it takes to serve one mapping. */
export interface MappingPeer {
  /** Open the client's mapping by name (throws when there is none). */
  open(name: string): Promise<OpenedMapping>
  /** The SIDs whose mappings are accepted: the user's and the token's default owner. */
  trustedOwners(): Promise<readonly string[]>
  /** Pass the request on; resolves to the answer, or to SSH_AGENT_FAILURE when there is none. */
  ask(request: AgentFrame): Promise<AgentFrame>
}

/** Why a mapping got no answer (the window then returns 0), or undefined when it was answered. */
export type Refusal = string | undefined

/** Serve the mapping `name`: read the request, ask, write the answer back. */
export async function answerMapping(name: string, peer: MappingPeer): Promise<Refusal> {
  let mapping: OpenedMapping
  try {
    mapping = await peer.open(name)
  } catch (err) {
    return `cannot open the mapping: ${(err as Error).message}`
  }
  try {
    const owners = await peer.trustedOwners()
    if (mapping.owner === undefined || !owners.includes(mapping.owner)) return `wrong owning SID of file mapping (${mapping.owner ?? 'no owner'})`
    if (mapping.size < HEADER_LEN + 1) return `the mapping (${mapping.size} bytes) is smaller than the smallest request`
    const length = mapping.read(HEADER_LEN).readUInt32BE(0)
    const carried = length > 0 && length <= mapping.size - HEADER_LEN && length <= COPYDATA_MAX_LEN
    const answer = carried ? (await peer.ask(frameOf(mapping.read(HEADER_LEN + length)))).bytes : AGENT_FAILURE_FRAME
    mapping.write(answer.length <= mapping.size ? answer : AGENT_FAILURE_FRAME)
    return undefined
  } finally {
    mapping.close()
  }
}
