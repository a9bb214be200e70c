import type { RelayDefinition } from '../shared/relay.js'
import { doctor } from './doctor/main.js'
import { muxRelay } from './mux/main.js'
import { npiperelay } from './npiperelay/main.js'
import { pageantRelay } from './pageant-relay/main.js'
import { relayListen } from './relay-listen/main.js'
import { setup } from './setup/main.js'
import { udsRelay } from './uds-relay/main.js'

/**
 * Every relay the `relaykit` executable can run, by name. relay-listen and
 * mux run other relays: they get {@link findRelay} handed in instead of
 * importing this module back.
 */
const relays: readonly RelayDefinition[] = [udsRelay, npiperelay, pageantRelay, relayListen(findRelay), muxRelay(findRelay), doctor, setup]

export function allRelays(): readonly RelayDefinition[] {
  return relays
}

/** The relay whose name matches `name` (case-insensitive, `.exe`/`.js` ignored). */
export function findRelay(name: string): RelayDefinition | undefined {
  const bare = name.toLowerCase().replace(/\.(exe|js|cjs|mjs)$/, '')
  return relays.find((r) => r.name === bare)
}
