import type { Duplex } from 'node:stream'
import { AgentStreamClient } from '../agent/client.js'
import { AgentMessage, type AgentFrame, HEADER_LEN, makeFrame, messageName } from '../agent/frames.js'
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'

/**
 * The one question doctor asks every agent: SSH_AGENTC_REQUEST_IDENTITIES.
 * It proves the whole path works (the same request `ssh-add -l` sends) and
 * the answer's count is all doctor keeps of it: no key blob, no comment is
 * ever printed.
 *
 *     request:  uint32 1 | byte 11 (SSH_AGENTC_REQUEST_IDENTITIES)
 *     answer:   uint32 len | byte 12 (SSH_AGENT_IDENTITIES_ANSWER)
 *               | uint32 nkeys | nkeys × (string key_blob, string comment)
 */

/** The request, ready to send. */
export const REQUEST_IDENTITIES: AgentFrame = makeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)

/**
 * The number of keys in a whole answer message (length prefix included).
 * Throws a {@link RelayError} for SSH_AGENT_FAILURE or anything that is not
 * a plausible IDENTITIES_ANSWER.
 */
export function countIdentities(frame: AgentFrame): number {
  const { type, bytes: answer } = frame
  if (type === AgentMessage.SSH_AGENT_FAILURE) {
    throw new RelayError('the agent answered SSH_AGENT_FAILURE to REQUEST_IDENTITIES', ExitCode.REFUSED)
  }
  if (type !== AgentMessage.SSH_AGENT_IDENTITIES_ANSWER) {
    throw new RelayError(`the agent answered ${messageName(type)} instead of SSH_AGENT_IDENTITIES_ANSWER`, ExitCode.PROTOCOL)
  }
  const body = HEADER_LEN + 1
  if (answer.length < body + 4) throw new RelayError('the identities answer is too short to hold a key count', ExitCode.PROTOCOL)
  const count = answer.readUInt32BE(body)
  // Each identity is two SSH strings, at least 4 bytes each.
  if (count > (answer.length - body - 4) / 8) {
    throw new RelayError(`the identities answer claims ${count} keys but is only ${answer.length} bytes`, ExitCode.PROTOCOL)
  }
  return count
}

/**
 * Connect with `connect`, ask for the identities and return their count,
 * all within `timeoutMs` (connecting included: a busy named pipe would
 * otherwise wait 30 s). Errors are RelayErrors; a timeout has
 * {@link ExitCode.TIMEOUT}.
 */
export async function probeAgent(connect: () => Promise<Duplex>, timeoutMs: number): Promise<number> {
  const client = new AgentStreamClient(connect, { timeoutMs })
  try {
    return countIdentities(await within(client.query(REQUEST_IDENTITIES), timeoutMs))
  } finally {
    client.close()
  }
}

/** `work`, or a TIMEOUT {@link RelayError} once `timeoutMs` have passed. */
export async function within<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RelayError(`no answer within ${timeoutMs} ms`, ExitCode.TIMEOUT)), timeoutMs)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
