import { udsRelay } from '../../uds-relay/main.js'
import { standalonePart } from '../standalone-part.js'

export const run = standalonePart(udsRelay)
