import { createHash } from 'node:crypto'
import { WireError, type WireReader, wireString } from './wire-reader.js'

/**
 * The key inside an add request (SSH_AGENTC_ADD_IDENTITY and its constrained
 * form, draft-miller-ssh-agent §4.2 / OpenSSH PROTOCOL.agent):
 *
 *     string key type | public fields | private fields | string comment
 *
 * The fields depend on the type and carry no overall length, so finding
 * where the comment (and the constraints after it) start means knowing each
 * type's layout. Every field is a `string`/`mpint` except the security key
 * `flags` byte (`b` below). A certificate carries `string certificate` in
 * place of the public fields; the certificate is then its public blob.
 *
 * | type | public fields (wire order) | private fields |
 * |---|---|---|
 * | ssh-rsa | n, e (the blob holds e, n) | d, iqmp, p, q |
 * | ssh-dss | p, q, g, y | x |
 * | ecdsa-sha2-nistp256/384/521 | curve, Q | d |
 * | ssh-ed25519 | ENC(A) | k ‖ ENC(A) |
 * | sk-ecdsa-sha2-nistp256@openssh.com | curve, Q, application | b flags, key handle, reserved |
 * | sk-ssh-ed25519@openssh.com | ENC(A), application | b flags, key handle, reserved |
 */
interface KeyLayout {
  readonly publicFields: number
  readonly privateFields: readonly ('s' | 'b')[]
  /** Blob order of the public fields, when it is not the wire order. */
  readonly blobOrder?: readonly number[]
}

const SK_PRIVATE = ['b', 's', 's'] as const

const LAYOUTS: Readonly<Record<string, KeyLayout>> = {
  'ssh-rsa': { publicFields: 2, privateFields: ['s', 's', 's', 's'], blobOrder: [1, 0] },
  'ssh-dss': { publicFields: 4, privateFields: ['s'] },
  'ecdsa-sha2-nistp256': { publicFields: 2, privateFields: ['s'] },
  'ecdsa-sha2-nistp384': { publicFields: 2, privateFields: ['s'] },
  'ecdsa-sha2-nistp521': { publicFields: 2, privateFields: ['s'] },
  'ssh-ed25519': { publicFields: 1, privateFields: ['s'] },
  'sk-ecdsa-sha2-nistp256@openssh.com': { publicFields: 3, privateFields: SK_PRIVATE },
  'sk-ssh-ed25519@openssh.com': { publicFields: 2, privateFields: SK_PRIVATE },
}

const CERT_SUFFIX = '-cert-v01@openssh.com'

/** The base type of a certificate type (`ssh-ed25519-cert-v01@openssh.com` → `ssh-ed25519`). */
function certBase(type: string): string | undefined {
  if (!type.endsWith(CERT_SUFFIX)) return undefined
  const base = type.slice(0, -CERT_SUFFIX.length)
  return base.startsWith('sk-') ? `${base}@openssh.com` : base
}

/** What an add request says about its key, none of it secret. */
export interface AddedKey {
  /** The public key blob, as REQUEST_IDENTITIES lists it and SIGN_REQUEST names it. */
  readonly blob: Buffer
  /** The comment the client gave the key (client-supplied: see {@link printableComment}). */
  readonly comment: string
}

/**
 * Reads the key and comment of an add request from `reader`, placed just
 * after the message type; leaves it after the comment. Throws
 * {@link WireError} on a type whose layout is not known or a short field.
 */
export function readAddedKey(reader: WireReader): AddedKey {
  const type = reader.string('key type').toString('latin1')
  const base = certBase(type)
  const layout = LAYOUTS[base ?? type]
  if (!layout) throw new WireError(`key type ${JSON.stringify(type.slice(0, 60))} is not one relaykit can read`)
  let blob: Buffer
  if (base !== undefined) {
    blob = Buffer.from(reader.string('certificate'))
  } else {
    const fields: Buffer[] = []
    const starts: number[] = []
    for (let i = 0; i < layout.publicFields; i++) {
      starts.push(reader.offset)
      reader.string(`public field ${i + 1}`)
      fields.push(reader.since(starts[i] as number))
    }
    const order = layout.blobOrder ?? fields.map((_, i) => i)
    blob = Buffer.concat([wireString(type), ...order.map((i) => fields[i] as Buffer)])
  }
  for (const [i, kind] of layout.privateFields.entries()) {
    if (kind === 'b') reader.byte(`private field ${i + 1}`)
    else reader.string(`private field ${i + 1}`)
  }
  const comment = reader.string('comment').toString('utf8')
  return { blob, comment }
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` and unpadded base64. */
export function fingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/**
 * A comment fit for a prompt or a log line: one line of printable
 * characters, at most 80 of them. Comments come from clients; a newline or
 * a control sequence in one must not be able to forge prompt text.
 */
export function printableComment(comment: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = comment.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '?')
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat
}
