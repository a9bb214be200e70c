import { runStandalone } from '../../../shared/run-standalone.js'
import { isSea } from '../../../shared/sea.js'
import { dispatch } from '../main.js'
import type { PartExports } from '../part-script.js'

/** Every relay, help and link: the whole dispatcher, as `relaykit` run from npm is. */
export const run: PartExports['run'] = (invoked, args) => {
  const self = { executable: process.execPath, sea: isSea() }
  void runStandalone((argv, io) => dispatch(invoked, argv, io, self), args)
}
