import { type AgentFrame, AgentMessage, HEADER_LEN } from './frames.js'
import { WireError, WireReader } from './wire-reader.js'

/**
 * `session-bind@openssh.com` (OpenSSH PROTOCOL.agent), which OpenSSH 8.9+
 * sends after key exchange on every agent connection it opens:
 *
 *     byte 27 (SSH_AGENTC_EXTENSION) | string "session-bind@openssh.com"
 *     | string hostkey | string session identifier | string signature
 *     | bool is_forwarding
 *
 * `is_forwarding` is set when the connection carries a forwarded agent
 * (`ssh -A`): the request comes from the far side. A forwarded connection
 * sees ssh's own bind (is_forwarding, the first host's key) and then one per
 * further hop. relaykit uses it only to decide and word a prompt; it does
 * not verify the signature (the agent upstream, if it knows the extension,
 * does).
 */
export const SESSION_BIND = 'session-bind@openssh.com'

export interface SessionBind {
  /** The server host key the session was bound to (public). */
  readonly hostKey: Buffer
  readonly forwarding: boolean
}

/** The bind in `frame`, or undefined when it is not a well-formed session-bind. */
export function parseSessionBind(frame: AgentFrame): SessionBind | undefined {
  if (frame.type !== AgentMessage.SSH_AGENTC_EXTENSION) return undefined
  const reader = new WireReader(frame.bytes, HEADER_LEN + 1)
  try {
    if (reader.string('extension name').toString('latin1') !== SESSION_BIND) return undefined
    const hostKey = Buffer.from(reader.string('hostkey'))
    reader.string('session identifier')
    reader.string('signature')
    const forwarding = reader.byte('is_forwarding') !== 0
    return reader.remaining === 0 ? { hostKey, forwarding } : undefined
  } catch (err) {
    if (err instanceof WireError) return undefined
    throw err
  }
}

/** What one client connection has bound so far. */
export class ConnectionBinding {
  #forwarded = false
  #hostKey: Buffer | undefined

  /** Some bind on this connection said it carries a forwarded agent. */
  get forwarded(): boolean {
    return this.#forwarded
  }

  /** The host key of the latest bind: where the next signature is meant to go. */
  get hostKey(): Buffer | undefined {
    return this.#hostKey
  }

  record(bind: SessionBind): void {
    this.#forwarded ||= bind.forwarding
    this.#hostKey = bind.hostKey
  }
}
