import { pageantRelay } from '../../pageant-relay/main.js'
import { standalonePart } from '../standalone-part.js'

export const run = standalonePart(pageantRelay)
