/**
 * Whether this process serves many client connections (relay-listen
 * running relays in-process, or the mux process behind `relay-listen
 * --mux`) or just one (a relay spawned per connection by socat, sshd or
 * `relay-listen --spawn`).
 *
 * State an agent keeps across connections (an emulated lock, a confirm
 * constraint, a key's lifetime: see emulated-agent.ts) can only be kept by a
 * process that outlives the connection that set it; socat and sshd end the
 * relay they started when its connection ends, so a relay run per
 * connection refuses what it could not keep. The commands that run relays
 * for many connections say so here before the first one starts.
 */
let shared = false

/** Called by relay-listen (in-process) and mux: connections share this process. */
export function markSharedProcess(): void {
  shared = true
}

/** True when connections share this process; false for a relay run per connection. */
export function sharedProcess(): boolean {
  return shared
}
