import { spawnSync } from 'node:child_process'
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'
import type { Done, RunKeyArtifact } from './artifact.js'
import type { Step } from './steps.js'

/**
 * Windows logon entries: values under the current user's Run key start a
 * program at each logon of that user, with no administrator rights (unlike
 * a service or a scheduled task for all users). Read and written with
 * Windows' own reg.exe, so the entry is exactly what `reg query` shows.
 */
export const RUN_KEY = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run'

/** The Run key, behind a door tests could replace. */
export interface RunKeys {
  get(name: string): string | undefined
  set(name: string, command: string): void
  remove(name: string): void
}

function reg(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('reg.exe', args, { encoding: 'utf8', windowsHide: true })
  if (r.error) throw new RelayError(`cannot run reg.exe: ${r.error.message}`, ExitCode.ERROR)
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr }
}

/** The Run key through reg.exe. */
export const regExeRunKeys: RunKeys = {
  get(name) {
    const r = reg(['query', RUN_KEY, '/v', name])
    if (r.code !== 0) return undefined // reg query exits 1 for a value that is not there
    const line = r.stdout.split(/\r?\n/).find((l) => l.trim().startsWith(`${name} `) || l.trim().startsWith(`${name}\t`))
    return line?.trim().slice(name.length).trim().replace(/^REG_(EXPAND_)?SZ\s+/, '')
  },
  set(name, command) {
    const r = reg(['add', RUN_KEY, '/v', name, '/t', 'REG_SZ', '/d', command, '/f'])
    if (r.code !== 0) throw new RelayError(`cannot write ${RUN_KEY}\\${name}: ${r.stderr.trim() || `reg.exe exit ${r.code}`}; nothing was changed`, ExitCode.ERROR)
  },
  remove(name) {
    const r = reg(['delete', RUN_KEY, '/v', name, '/f'])
    if (r.code !== 0) throw new RelayError(`cannot remove ${RUN_KEY}\\${name}: ${r.stderr.trim() || `reg.exe exit ${r.code}`}`, ExitCode.ERROR)
  },
}

export function runKeyStep(a: RunKeyArtifact, previous: Done | undefined, keys: RunKeys): Step {
  const what = `${RUN_KEY}\\${a.name}`
  const current = keys.get(a.name)
  const record: Done = { kind: 'run-key', name: a.name, command: a.command }
  const ours = previous?.kind === 'run-key' && current === previous.command
  if (current !== undefined && !ours) {
    return { what, conflict: `${what} exists and relaykit setup did not write it (or it was changed since): delete it (reg delete "${RUN_KEY}" /v ${a.name}), then run again` }
  }
  if (current === a.command) return { what, record }
  return {
    what,
    change: {
      describe: `${current === undefined ? 'add' : 'update'} the logon entry ${what} = ${a.command}`,
      done: `${current === undefined ? 'added' : 'updated'} the logon entry ${what} = ${a.command}`,
      apply: () => {
        keys.set(a.name, a.command)
        return { records: [record], undo: () => (current === undefined ? keys.remove(a.name) : keys.set(a.name, current)) }
      },
    },
  }
}

export function removeRunKeyStep(d: Extract<Done, { kind: 'run-key' }>, keys: RunKeys): Step {
  const what = `${RUN_KEY}\\${d.name}`
  const current = keys.get(d.name)
  if (current === undefined) return { what: `${what} (already gone)` }
  if (current !== d.command) return { what, conflict: `${what} was changed since relaykit setup wrote it; it is left alone: delete it yourself` }
  return {
    what,
    change: {
      describe: `remove the logon entry ${what}`,
      done: `removed the logon entry ${what}`,
      apply: () => {
        keys.remove(d.name)
        return { records: [], undo: () => keys.set(d.name, d.command) }
      },
    },
  }
}
