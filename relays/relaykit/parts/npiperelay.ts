import { npiperelay } from '../../npiperelay/main.js'
import { standalonePart } from '../standalone-part.js'

export const run = standalonePart(npiperelay)
