/**
 * At most `max` tasks at once; the rest wait their turn in order. A listener
 * over its limit queues connections instead of dropping them (Node's
 * `server.maxConnections` closes them, which is what users of the peers
 * complain about: "Too many connections").
 */
export class Limiter {
  #running = 0
  #waiting: (() => void)[] = []

  constructor(readonly max: number) {}

  get running(): number {
    return this.#running
  }

  get waiting(): number {
    return this.#waiting.length
  }

  async run(task: () => Promise<void>): Promise<void> {
    if (this.#running >= this.max) await new Promise<void>((r) => this.#waiting.push(r))
    this.#running++
    try {
      await task()
    } finally {
      this.#running--
      this.#waiting.shift()?.()
    }
  }
}
