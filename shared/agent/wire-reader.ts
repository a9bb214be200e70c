/**
 * Reading the SSH wire types (RFC 4251 §5) out of one agent message, with
 * every length checked against what is left before a byte is taken:
 *
 *     byte     1 byte
 *     uint32   4 bytes, big-endian
 *     string   uint32 n | n bytes      (mpint travels the same way)
 *
 * A message that ends early, or claims more than it carries, is a
 * {@link WireError}: the callers answer it SSH_AGENT_FAILURE.
 */

/** A message whose contents do not parse as the specification says. */
export class WireError extends Error {
  override name = 'WireError'
}

/** A cursor over one message's contents (no copies: results are views of `bytes`). */
export class WireReader {
  #bytes: Buffer
  #at: number

  constructor(bytes: Buffer, at = 0) {
    this.#bytes = bytes
    this.#at = at
  }

  /** Offset of the next unread byte. */
  get offset(): number {
    return this.#at
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#bytes.length - this.#at
  }

  byte(what: string): number {
    this.#need(1, what)
    return this.#bytes[this.#at++] as number
  }

  uint32(what: string): number {
    this.#need(4, what)
    const value = this.#bytes.readUInt32BE(this.#at)
    this.#at += 4
    return value
  }

  /** A `string` (or `mpint`): its contents, without the length. */
  string(what: string): Buffer {
    const length = this.uint32(`${what} length`)
    this.#need(length, what)
    const value = this.#bytes.subarray(this.#at, this.#at + length)
    this.#at += length
    return value
  }

  /** Bytes from `from` up to the cursor, as they are on the wire. */
  since(from: number): Buffer {
    return this.#bytes.subarray(from, this.#at)
  }

  #need(n: number, what: string): void {
    if (n > this.remaining) throw new WireError(`${what}: needs ${n} bytes, ${this.remaining} left`)
  }
}

/** `string` encoding: uint32 length, then the bytes. */
export function wireString(value: Uint8Array | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  const out = Buffer.allocUnsafe(4 + bytes.length)
  out.writeUInt32BE(bytes.length, 0)
  out.set(bytes, 4)
  return out
}

/** `uint32` encoding. */
export function wireUint32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32BE(value, 0)
  return out
}
