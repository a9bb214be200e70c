import fs from 'node:fs'
import path from 'node:path'
import { describeCode } from '../channels/private-directory.js'
import { ExitCode } from '../exit-codes.js'
import { RelayError, errorCode } from '../relay-error.js'
import type { Done } from './artifact.js'

/** The directories setup makes for its files, and takes away again once they are empty. */

/** mkdir -p with 0700, returning records of the directories it made (outermost first). */
export function ensureDirectories(dir: string, undo: (() => void)[]): Done[] {
  const missing: string[] = []
  for (let d = dir; !exists(d); d = path.dirname(d)) missing.unshift(d)
  const made: Done[] = []
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: 0o700 })
    } catch (err) {
      throw new RelayError(`cannot create ${d}: ${describeCode(err)}; nothing was changed`, ExitCode.ERROR)
    }
    undo.push(() => fs.rmdirSync(d))
    made.push({ kind: 'dir', path: d })
  }
  return made
}

export function removeIfEmpty(dir: string): boolean {
  try {
    fs.rmdirSync(dir)
    return true
  } catch (err) {
    if (['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(errorCode(err) ?? '')) return false
    throw new RelayError(`cannot remove ${dir}: ${describeCode(err)}`, ExitCode.ERROR)
  }
}

export function exists(p: string): boolean {
  try {
    fs.lstatSync(p)
    return true
  } catch {
    return false
  }
}

