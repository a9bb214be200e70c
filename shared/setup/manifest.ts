import fs from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../exit-codes.js'
import { RelayError, errorCode, messageOf } from '../relay-error.js'
import type { Done } from './artifact.js'

/**
 * The manifest: what one setup profile made, in the order it made it.
 * Without it `--remove` could only guess which unit file or block was
 * setup's and which the user's.
 */
export interface Manifest {
  readonly version: 1
  /** The command line that made it, for people reading the file. */
  readonly command: string
  readonly done: readonly Done[]
}

export function readManifest(file: string): Manifest | undefined {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined
    throw new RelayError(`cannot read ${file}: ${messageOf(err)}`, ExitCode.ERROR)
  }
  try {
    const parsed = JSON.parse(text) as Manifest
    if (parsed.version === 1 && Array.isArray(parsed.done)) return parsed
  } catch {
    // fall through: the same answer as an unknown version
  }
  throw new RelayError(`${file} is not a manifest relaykit setup wrote; move it away and run again`, ExitCode.ERROR)
}

export function manifestText(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n'
}

/** Written whole or not at all: a half-written manifest would lose what setup made. */
export function writeFileAtomic(file: string, data: Buffer | string, mode: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    fs.writeFileSync(temp, data, { mode })
    fs.chmodSync(temp, mode)
    fs.renameSync(temp, file)
  } catch (err) {
    fs.rmSync(temp, { force: true })
    throw err
  }
}
