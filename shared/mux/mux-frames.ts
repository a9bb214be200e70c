/**
 * The mux wire format: many relay streams over one byte stream (the stdin
 * and stdout of one long-lived `relaykit mux` process), so that no process
 * is started per connection.
 *
 *     +------+------+------+------+------+------+------+------+------+---- ... ----+
 *     | type |   stream id (uint32 BE)   |  payload length (uint32 BE)| payload     |
 *     +------+------+------+------+------+------+------+------+------+---- ... ----+
 *
 * | type | name | direction | payload |
 * |---|---|---|---|
 * | 0 | HELLO | mux → listener, once, id 0 | `relaykit-mux 1` |
 * | 1 | OPEN | listener → mux | empty: start a relay for this new id |
 * | 2 | DATA | both | bytes, at most {@link MUX_MAX_PAYLOAD}, never more than the window allows |
 * | 3 | EOF | both | empty: the sender will write no more on this stream (half-close) |
 * | 4 | CLOSE | both | empty, or one byte: the relay's exit code; the stream is gone, drop what arrives for it |
 * | 5 | WINDOW | both | uint32 BE: the sender may now send this many more DATA bytes |
 * | 6 | ERROR | both | UTF-8 text: this stream failed (implies CLOSE) |
 *
 * Flow control: each side starts with {@link MUX_INITIAL_WINDOW} bytes of
 * credit per stream and direction, and grants more (WINDOW) only as its
 * consumer takes the data, so a slow stream cannot stall the others nor
 * make either process buffer without bound.
 *
 * Errors: a header that cannot be right (unknown type, payload over the
 * limit) means the byte stream lost its framing: every stream fails and
 * the session ends. A well-framed message that breaks the rules for one
 * stream (DATA beyond the window, OPEN of an id in use, DATA for an id never
 * opened) fails that stream alone with ERROR; the others carry on.
 */

export const MuxType = {
  HELLO: 0,
  OPEN: 1,
  DATA: 2,
  EOF: 3,
  CLOSE: 4,
  WINDOW: 5,
  ERROR: 6,
} as const

export type MuxType = (typeof MuxType)[keyof typeof MuxType]

export const MUX_HEADER_LEN = 9
/** Largest payload of one frame. */
export const MUX_MAX_PAYLOAD = 64 * 1024
/** Credit each side starts with, per stream and direction: one whole agent message. */
export const MUX_INITIAL_WINDOW = 256 * 1024 + 4
/** What the mux says first. */
export const MUX_HELLO = 'relaykit-mux 1'

export interface MuxFrame {
  readonly type: MuxType
  readonly id: number
  readonly payload: Buffer
}

/** The byte stream lost its framing; nothing on it can be trusted any more. */
export class MuxFramingError extends Error {
  override name = 'MuxFramingError'
}

export function encodeMuxFrame(type: MuxType, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(MUX_HEADER_LEN + payload.length)
  out[0] = type
  out.writeUInt32BE(id, 1)
  out.writeUInt32BE(payload.length, 5)
  payload.copy(out, MUX_HEADER_LEN)
  return out
}

/** Incremental parser, bounded like the agent-frame parser: a length is checked before it is believed. */
export class MuxParser {
  #buf: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): MuxFrame[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk
    const frames: MuxFrame[] = []
    while (this.#buf.length >= MUX_HEADER_LEN) {
      const type = this.#buf[0] as number
      const id = this.#buf.readUInt32BE(1)
      const length = this.#buf.readUInt32BE(5)
      if (type > MuxType.ERROR) throw new MuxFramingError(`unknown mux frame type ${type}`)
      if (length > MUX_MAX_PAYLOAD) throw new MuxFramingError(`mux frame of ${length} bytes exceeds ${MUX_MAX_PAYLOAD}`)
      if (this.#buf.length < MUX_HEADER_LEN + length) break
      frames.push({ type: type as MuxType, id, payload: this.#buf.subarray(MUX_HEADER_LEN, MUX_HEADER_LEN + length) })
      this.#buf = this.#buf.subarray(MUX_HEADER_LEN + length)
    }
    return frames
  }
}
