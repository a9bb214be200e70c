import type { RelayDefinition } from '../shared/relay.js'
import { doctor } from './doctor/main.js'
import { mux } from './mux/main.js'
import { npiperelay } from './npiperelay/main.js'
import { pageantRelay } from './pageant-relay/main.js'
import { relayListen } from './relay-listen/main.js'
import { udsRelay } from './uds-relay/main.js'

/**
 * Every relay the `relaykit` executable can run, by name. A function, not a
 * constant: relay-listen and mux look relays up too, and this module and
 * theirs import each other.
 */
export function allRelays(): readonly RelayDefinition[] {
  return [udsRelay, npiperelay, pageantRelay, relayListen, mux, doctor]
}

/** The relay whose name matches `name` (case-insensitive, `.exe`/`.js` ignored). */
export function findRelay(name: string): RelayDefinition | undefined {
  const bare = name.toLowerCase().replace(/\.(exe|js|cjs|mjs)$/, '')
  return allRelays().find((r) => r.name === bare)
}
