import type { Duplex } from 'node:stream'
import type { Log } from '../log.js'

/** How {@link dial} retries. */
export interface DialOptions {
  /** Keep trying while `retryable` says the failure is temporary (`-p`). */
  poll: boolean
  /** Failures worth another try when polling (missing, busy, refused …). */
  retryable: (err: unknown) => boolean
  /** Between tries; npiperelay uses 200 ms. */
  intervalMs?: number
  log: Log
  /** Shown in verbose logs. */
  what: string
}

/** Connect with `connectOnce`, retrying as `options` say; rejects with the last error. */
export async function dial<T extends Duplex>(
  connectOnce: () => Promise<T>,
  options: DialOptions,
): Promise<T> {
  const interval = options.intervalMs ?? 200
  let announced = false
  for (;;) {
    try {
      const stream = await connectOnce()
      options.log.debug(`connected to ${options.what}`)
      return stream
    } catch (err) {
      if (!options.poll || !options.retryable(err)) throw err
      if (!announced) options.log.debug(`waiting for ${options.what} (${String(err)})`)
      announced = true
      await new Promise((r) => setTimeout(r, interval))
    }
  }
}
