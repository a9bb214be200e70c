import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { HEADER_LEN, type AgentFrame } from './frames.js'
import { WireError, WireReader } from './wire-reader.js'

/**
 * `--lock emulate`: SSH_AGENTC_LOCK / SSH_AGENTC_UNLOCK (`ssh-add -x` /
 * `-X`) answered by relaykit, for agents that refuse them (Pageant):
 *
 *     byte 22 (SSH_AGENTC_LOCK)   | string passphrase
 *     byte 23 (SSH_AGENTC_UNLOCK) | string passphrase
 *
 * As OpenSSH's ssh-agent: locking a locked agent or unlocking an unlocked
 * one fails; unlock succeeds only with the passphrase that locked.
 *
 * The passphrase itself is not kept: only SHA-256 over a random salt and
 * it, and an unlock attempt is hashed the same way and compared with
 * `timingSafeEqual` (equal-length digests, so the comparison takes the same
 * time whatever the attempt). Neither it nor its digest is ever logged.
 * Like ssh-agent, each wrong attempt makes the next answer slower (100 ms
 * more per failure, up to 10 s), so guessing through the socket is slow.
 */
export class LockState {
  // Made by each lock(): nothing is hashed before one. Not at construction,
  // which loaded node:crypto on every start of every relay that emulates.
  #salt = Buffer.alloc(0)
  #digest: Buffer | undefined
  #failures = 0

  get locked(): boolean {
    return this.#digest !== undefined
  }

  /** Lock with the request's passphrase; false if already locked or malformed. */
  lock(request: AgentFrame): boolean {
    const passphrase = passphraseOf(request)
    if (this.locked || passphrase === undefined) return false
    this.#salt = randomBytes(32)
    this.#digest = this.#hash(passphrase)
    return true
  }

  /** Unlock if the request's passphrase is the one that locked; resolves to whether it did. */
  async unlock(request: AgentFrame): Promise<boolean> {
    const passphrase = passphraseOf(request)
    const digest = this.#digest
    if (digest === undefined || passphrase === undefined) return false
    if (timingSafeEqual(this.#hash(passphrase), digest)) {
      this.#digest = undefined
      this.#failures = 0
      return true
    }
    this.#failures = Math.min(this.#failures + 1, 100)
    await new Promise((resolve) => setTimeout(resolve, 100 * this.#failures))
    return false
  }

  #hash(passphrase: Buffer): Buffer {
    return createHash('sha256').update(this.#salt).update(passphrase).digest()
  }
}

function passphraseOf(request: AgentFrame): Buffer | undefined {
  const reader = new WireReader(request.bytes, HEADER_LEN + 1)
  try {
    const passphrase = reader.string('passphrase')
    return reader.remaining === 0 ? passphrase : undefined
  } catch (err) {
    if (err instanceof WireError) return undefined
    throw err
  }
}
