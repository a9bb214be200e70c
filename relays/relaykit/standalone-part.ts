import type { RelayDefinition } from '../../shared/relay.js'
import { runStandalone } from '../../shared/run-standalone.js'
import type { PartExports } from './part-script.js'

/** The `run` of a part holding one relay: that relay, as the process. */
export function standalonePart(relay: RelayDefinition): PartExports['run'] {
  return (_invoked, args) => void runStandalone(relay.main, args)
}
