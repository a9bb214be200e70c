/**
 * SSH agent messages on a byte stream (RFC 9987 §3, OpenSSH `authfd.h`).
 *
 *     +--------+--------+--------+--------+--------+-------- ... ---+
 *     |     uint32 length (big-endian)    |  type  |   contents     |
 *     +--------+--------+--------+--------+--------+-------- ... ---+
 *                                          <-------- length -------->
 *
 * `length` counts the type byte and the contents, never itself, so a valid
 * message has length >= 1. OpenSSH refuses messages over AGENT_MAX_LEN
 * (256 KiB) and so does PuTTY since 0.71 (AGENT_MAX_MSGLEN); this module
 * does the same by default, and checks the claimed length *before* it holds
 * a single byte more than the limit, whatever a peer claims.
 */

/** OpenSSH's AGENT_MAX_LEN and PuTTY's AGENT_MAX_MSGLEN: 256 KiB. */
export const AGENT_MAX_LEN = 256 * 1024

/** Bytes of the length prefix. */
export const HEADER_LEN = 4

/** Message numbers, with the names the specification and OpenSSH use. */
export const AgentMessage = {
  SSH_AGENTC_REQUEST_RSA_IDENTITIES: 1,
  SSH_AGENT_RSA_IDENTITIES_ANSWER: 2,
  SSH_AGENTC_RSA_CHALLENGE: 3,
  SSH_AGENT_RSA_RESPONSE: 4,
  SSH_AGENT_FAILURE: 5,
  SSH_AGENT_SUCCESS: 6,
  SSH_AGENTC_ADD_RSA_IDENTITY: 7,
  SSH_AGENTC_REMOVE_RSA_IDENTITY: 8,
  SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES: 9,
  SSH_AGENTC_REQUEST_IDENTITIES: 11,
  SSH_AGENT_IDENTITIES_ANSWER: 12,
  SSH_AGENTC_SIGN_REQUEST: 13,
  SSH_AGENT_SIGN_RESPONSE: 14,
  SSH_AGENTC_ADD_IDENTITY: 17,
  SSH_AGENTC_REMOVE_IDENTITY: 18,
  SSH_AGENTC_REMOVE_ALL_IDENTITIES: 19,
  SSH_AGENTC_ADD_SMARTCARD_KEY: 20,
  SSH_AGENTC_REMOVE_SMARTCARD_KEY: 21,
  SSH_AGENTC_LOCK: 22,
  SSH_AGENTC_UNLOCK: 23,
  SSH_AGENTC_ADD_RSA_ID_CONSTRAINED: 24,
  SSH_AGENTC_ADD_ID_CONSTRAINED: 25,
  SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED: 26,
  SSH_AGENTC_EXTENSION: 27,
  SSH_AGENT_EXTENSION_FAILURE: 28,
  SSH_AGENT_EXTENSION_RESPONSE: 29,
  SSH2_AGENT_FAILURE: 30,
  SSH_COM_AGENT2_FAILURE: 102,
} as const

const namesByNumber = new Map<number, string>(
  Object.entries(AgentMessage).map(([name, n]) => [n, name]),
)

/** The specification's name for a message number, or `UNKNOWN(<n>)`. */
export function messageName(type: number): string {
  return namesByNumber.get(type) ?? `UNKNOWN(${type})`
}

/** One whole message as it travels on the wire. */
export interface AgentFrame {
  /** The message number (first byte after the length). */
  readonly type: number
  /** The value of the length field: type byte plus contents. */
  readonly length: number
  /** The whole message, length prefix included, ready to forward. */
  readonly bytes: Buffer
}

/** A peer sent something that is not a valid agent message stream. */
export class FrameError extends Error {
  override name = 'FrameError'
  /**
   * @param complete whole messages that arrived in the same chunk before
   *   the bad one: they are valid and still deserve an answer.
   */
  constructor(
    message: string,
    readonly complete: readonly AgentFrame[] = [],
  ) {
    super(message)
  }
}

/** `00 00 00 01 05`: what an agent answers when it cannot do something. */
export const AGENT_FAILURE_FRAME: Buffer = encodeFrame(AgentMessage.SSH_AGENT_FAILURE)

/** {@link AGENT_FAILURE_FRAME} as a frame: the answer relays give in the agent's stead. */
export const AGENT_FAILURE: AgentFrame = frameOf(AGENT_FAILURE_FRAME)

/**
 * The one check of a length field, wherever a length comes from (a stream,
 * Pageant's mapping): at least the type byte, at most `maxLength`.
 * `complete` rides along in the error (see {@link FrameError}).
 */
export function checkLength(length: number, maxLength: number, complete: readonly AgentFrame[] = []): void {
  if (length === 0) throw new FrameError('agent message with length 0 (a message holds at least its type byte)', complete)
  if (length > maxLength) throw new FrameError(`agent message of ${length} bytes exceeds the limit of ${maxLength} bytes`, complete)
}

/** A whole message that is already in one buffer, checked as the parser checks it. */
export function frameOf(bytes: Buffer, maxLength: number = AGENT_MAX_LEN): AgentFrame {
  if (bytes.length < HEADER_LEN + 1) throw new FrameError(`a message of ${bytes.length} bytes is too short`)
  const length = bytes.readUInt32BE(0)
  checkLength(length, maxLength)
  if (length !== bytes.length - HEADER_LEN) throw new FrameError(`a message claims ${length} bytes but carries ${bytes.length - HEADER_LEN}`)
  return { type: bytes[HEADER_LEN] as number, length, bytes }
}

/**
 * The name an SSH_AGENTC_EXTENSION request carries (draft-miller-ssh-agent
 * §3.8, PROTOCOL.agent), or undefined when the message is not one or its
 * name does not fit in it:
 *
 *     uint32 length | byte 27 | string extension-name | extension contents
 *
 * where `string` is a uint32 big-endian length and that many bytes.
 */
export function extensionName(frame: AgentFrame): string | undefined {
  if (frame.type !== AgentMessage.SSH_AGENTC_EXTENSION) return undefined
  const at = HEADER_LEN + 1
  if (frame.bytes.length < at + 4) return undefined
  const nameLength = frame.bytes.readUInt32BE(at)
  if (nameLength > frame.bytes.length - at - 4) return undefined
  return frame.bytes.toString('latin1', at + 4, at + 4 + nameLength)
}

/** Build one message as a frame. */
export function makeFrame(type: number, contents?: Uint8Array): AgentFrame {
  return frameOf(encodeFrame(type, contents), Number.MAX_SAFE_INTEGER)
}

/** Build one message: length prefix, type byte, contents. */
export function encodeFrame(type: number, contents: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LEN + 1 + contents.length)
  out.writeUInt32BE(1 + contents.length, 0)
  out[HEADER_LEN] = type
  out.set(contents, HEADER_LEN + 1)
  return out
}

/** Options for {@link FrameParser}. */
export interface FrameParserOptions {
  /** Largest accepted value of the length field. Default {@link AGENT_MAX_LEN}. */
  maxLength?: number
}

/**
 * Incremental parser: feed it bytes in chunks of any size, get whole
 * messages back. Partial input is kept as the chunks it arrived in (no
 * copying per chunk), so a message split into single bytes costs one copy
 * when it completes, and at most `maxLength + 3` bytes are ever held between
 * calls to {@link FrameParser.push}.
 */
export class FrameParser {
  readonly maxLength: number
  #chunks: Buffer[] = []
  #size = 0
  #need = 0 // bytes of the message being collected, 0 while its header is incomplete
  #failed = false

  constructor(options: FrameParserOptions = {}) {
    this.maxLength = options.maxLength ?? AGENT_MAX_LEN
    if (!Number.isInteger(this.maxLength) || this.maxLength < 1) {
      throw new RangeError(`maxLength must be a positive integer, got ${this.maxLength}`)
    }
  }

  /** Bytes received but not yet returned as a message. */
  get buffered(): number {
    return this.#size
  }

  /**
   * Add bytes; returns every message they complete, in order.
   * Throws {@link FrameError} on a zero or oversized length (carrying the
   * whole messages that preceded it); the parser is then unusable (the
   * stream has lost its framing).
   */
  push(chunk: Buffer): AgentFrame[] {
    if (this.#failed) throw new FrameError('agent message stream already failed')
    const frames: AgentFrame[] = []
    if (chunk.length === 0) return frames
    this.#chunks.push(chunk)
    this.#size += chunk.length
    for (;;) {
      if (this.#need === 0) {
        if (this.#size < HEADER_LEN) break
        this.#need = HEADER_LEN + this.#checkLength(this.#peekLength(), frames)
      }
      if (this.#size < this.#need) break
      const bytes = this.#take(this.#need)
      this.#need = 0
      frames.push({ type: bytes[HEADER_LEN] as number, length: bytes.length - HEADER_LEN, bytes })
    }
    return frames
  }

  #checkLength(length: number, complete: AgentFrame[]): number {
    try {
      checkLength(length, this.maxLength, complete)
    } catch (err) {
      this.#poison()
      throw err
    }
    return length
  }

  #poison(): void {
    this.#failed = true
    this.#chunks = []
    this.#size = 0
  }

  #peekLength(): number {
    const first = this.#chunks[0] as Buffer
    if (first.length >= HEADER_LEN) return first.readUInt32BE(0)
    const head = Buffer.alloc(HEADER_LEN)
    let at = 0
    for (const c of this.#chunks) {
      at += c.copy(head, at, 0, Math.min(c.length, HEADER_LEN - at))
      if (at === HEADER_LEN) break
    }
    return head.readUInt32BE(0)
  }

  // Removes the first n buffered bytes (n <= #size). Zero-copy when they
  // lie in the first chunk, one copy otherwise.
  #take(n: number): Buffer {
    this.#size -= n
    const first = this.#chunks[0] as Buffer
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      const c = this.#chunks[0] as Buffer
      const part = Math.min(c.length, n - at)
      c.copy(out, at, 0, part)
      at += part
      if (part === c.length) this.#chunks.shift()
      else this.#chunks[0] = c.subarray(part)
    }
    return out
  }
}
