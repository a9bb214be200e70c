import fs from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../../shared/exit-codes.js'
import { RelayError, errorCode, messageOf } from '../../shared/relay-error.js'

/**
 * `relaykit link DIR`: give the one executable every relay's name, so it can
 * replace a peer's file (npiperelay.exe …) without embedding another Node
 * runtime per relay. Hard links cost no space; where they cannot be made
 * (another volume, a file system without them) the file is copied.
 */
export function linkRelays(
  executable: string,
  dir: string,
  names: readonly string[],
): { name: string; how: 'linked' | 'copied' | 'kept' }[] {
  const ext = path.extname(executable).toLowerCase() === '.exe' ? '.exe' : ''
  try {
    fs.mkdirSync(dir, { recursive: true })
  } catch (err) {
    throw new RelayError(`cannot create ${dir}: ${messageOf(err)}`, ExitCode.ERROR)
  }
  const source = fs.statSync(executable)
  return names.map((name) => {
    const target = path.join(dir, name + ext)
    const existing = statOrUndefined(target)
    if (existing && existing.ino === source.ino && existing.dev === source.dev) {
      return { name: target, how: 'kept' as const }
    }
    if (existing) fs.rmSync(target)
    try {
      fs.linkSync(executable, target)
      return { name: target, how: 'linked' as const }
    } catch (err) {
      if (!['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP'].includes(errorCode(err) ?? '')) {
        throw new RelayError(`cannot create ${target}: ${messageOf(err)}`, ExitCode.ERROR)
      }
      fs.copyFileSync(executable, target)
      fs.chmodSync(target, source.mode & 0o777)
      return { name: target, how: 'copied' as const }
    }
  })
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p)
  } catch {
    return undefined
  }
}
