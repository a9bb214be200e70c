import { doctor } from '../../doctor/main.js'
import { standalonePart } from '../standalone-part.js'

export const run = standalonePart(doctor)
