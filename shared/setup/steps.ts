import fs from 'node:fs'
import path from 'node:path'
import { describeCode } from '../channels/private-directory.js'
import { ExitCode } from '../exit-codes.js'
import { RelayError, errorCode } from '../relay-error.js'
import { type BlockArtifact, type Done, type FileArtifact, type SymlinkArtifact, sha256 } from './artifact.js'
import { ensureDirectories } from './directories.js'
import { writeFileAtomic } from './manifest.js'
import { type RunKeys, removeRunKeyStep } from './run-keys.js'
import { countBlocks, insertion, withoutInserted } from './shell-block.js'

/**
 * One artifact compared with the machine: nothing to do (with the record
 * to keep), a change to make, or a conflict that stops the whole run. Each
 * change knows how to undo itself.
 */
export interface Step {
  readonly what: string
  readonly conflict?: string
  readonly record?: Done
  readonly change?: Change
}

export interface Change {
  /** After "would ": what a dry run prints. */
  readonly describe: string
  /** What the run prints once it is done. */
  readonly done: string
  apply(): { records: Done[]; undo(): void }
}

const NOT_OURS = 'relaykit setup did not write it (or it was changed since): move it away, then run again'

/** Text files are shown in full by --dry-run; an executable by its size. */
function shown(content: Buffer): string {
  return content.includes(0) ? ` (${content.length} bytes)` : `:\n${indent(content.toString('utf8'))}`
}

function indent(text: string): string {
  return text.replace(/\n$/, '').split('\n').map((l) => `    ${l}`).join('\n')
}

function fail(action: string, file: string, err: unknown): never {
  throw new RelayError(`cannot ${action} ${file}: ${describeCode(err)}; nothing was changed`, ExitCode.ERROR)
}

function readOrUndefined(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined
    return fail('read', file, err)
  }
}

function lstatOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(file)
  } catch {
    return undefined
  }
}

export function fileStep(a: FileArtifact, previous: Done | undefined): Step {
  const what = a.path
  const st = lstatOrUndefined(a.path)
  const current = st?.isFile() ? readOrUndefined(a.path) : undefined
  const record: Done = { kind: 'file', path: a.path, sha256: sha256(a.content) }
  if (st && !(current && previous?.kind === 'file' && sha256(current) === previous.sha256)) {
    return { what, conflict: `${a.path} exists and ${NOT_OURS}` }
  }
  if (current && st && current.equals(a.content) && (st.mode & 0o777) === a.mode) return { what, record }
  const write = (): { records: Done[]; undo(): void } => {
    const undo: (() => void)[] = []
    const dirs = ensureDirectories(path.dirname(a.path), undo)
    try {
      writeFileAtomic(a.path, a.content, a.mode)
    } catch (err) {
      undo.reverse().forEach((u) => u())
      fail('write', a.path, err)
    }
    undo.push(current ? () => writeFileAtomic(a.path, current, (st?.mode ?? a.mode) & 0o777) : () => fs.rmSync(a.path))
    return { records: [...dirs, record], undo: () => undo.reverse().forEach((u) => u()) }
  }
  return current
    ? { what, change: { describe: `update ${a.path}${shown(a.content)}`, done: `updated ${a.path}`, apply: write } }
    : { what, change: { describe: `create ${a.path}${shown(a.content)}`, done: `created ${a.path}`, apply: write } }
}

export function symlinkStep(a: SymlinkArtifact, previous: Done | undefined): Step {
  const what = `${a.path} -> ${a.target}`
  const st = lstatOrUndefined(a.path)
  const record: Done = { kind: 'symlink', path: a.path, target: a.target }
  if (st) {
    const ours = st.isSymbolicLink() && previous?.kind === 'symlink' && fs.readlinkSync(a.path) === previous.target
    if (!ours) return { what, conflict: `${a.path} exists and ${NOT_OURS}` }
    if (fs.readlinkSync(a.path) === a.target) return { what, record }
  }
  const old = st ? fs.readlinkSync(a.path) : undefined
  return {
    what,
    change: {
      describe: `link ${what}`,
      done: `linked ${what}`,
      apply: () => {
        const undo: (() => void)[] = []
        const dirs = ensureDirectories(path.dirname(a.path), undo)
        try {
          if (old !== undefined) fs.rmSync(a.path)
          fs.symlinkSync(a.target, a.path)
        } catch (err) {
          undo.reverse().forEach((u) => u())
          fail('create', a.path, err)
        }
        undo.push(() => {
          fs.rmSync(a.path, { force: true })
          if (old !== undefined) fs.symlinkSync(old, a.path)
        })
        return { records: [...dirs, record], undo: () => undo.reverse().forEach((u) => u()) }
      },
    },
  }
}

export function blockStep(a: BlockArtifact, previous: Done | undefined): Step {
  const what = `block in ${a.path}`
  const raw = readOrUndefined(a.path)
  const content = raw?.toString('utf8') ?? ''
  const prior = previous?.kind === 'block' ? previous : undefined
  const base = prior ? withoutInserted(content, prior.inserted) : content
  if (base === undefined) {
    return { what, conflict: `${a.path}: the block marked "${a.marker}" was edited since relaykit setup wrote it: take it out by hand, then run again` }
  }
  if (countBlocks(base, a.marker) > 0) {
    return { what, conflict: `${a.path} already has a block marked "${a.marker}" that ${NOT_OURS}` }
  }
  const inserted = insertion(base, a.text)
  const createdFile = prior?.createdFile ?? raw === undefined
  const record: Done = { kind: 'block', path: a.path, inserted, createdFile }
  if (prior && base + inserted === content) return { what, record }
  return {
    what,
    change: {
      describe: `${prior ? 'replace the block in' : 'add a block to'} ${a.path}:\n${indent(a.text)}`,
      done: `${prior ? 'replaced the block in' : 'added a block to'} ${a.path}`,
      apply: () => {
        const undo: (() => void)[] = []
        const dirs = raw === undefined ? ensureDirectories(path.dirname(a.path), undo) : []
        try {
          // In place, not renamed over: the file may be a link into a dotfiles repository.
          fs.writeFileSync(a.path, base + inserted, { mode: 0o644 })
        } catch (err) {
          undo.reverse().forEach((u) => u())
          fail('write', a.path, err)
        }
        undo.push(raw === undefined ? () => fs.rmSync(a.path) : () => fs.writeFileSync(a.path, raw))
        return { records: [...dirs, record], undo: () => undo.reverse().forEach((u) => u()) }
      },
    },
  }
}

/** Take away one thing a previous run made, if it is still as that run left it. */
export function removeStep(d: Done, runKeys: RunKeys | undefined): Step {
  switch (d.kind) {
    case 'dir':
      return { what: d.path, record: d }
    case 'file':
      return removeFileStep(d)
    case 'symlink':
      return removeSymlinkStep(d)
    case 'block':
      return removeBlockStep(d)
    case 'run-key':
      if (!runKeys) return { what: d.name, conflict: `the logon entry ${d.name} can only be removed on Windows` }
      return removeRunKeyStep(d, runKeys)
  }
}

function removeFileStep(d: Extract<Done, { kind: 'file' }>): Step {
  const st = lstatOrUndefined(d.path)
  if (!st) return { what: `${d.path} (already gone)` }
  const current = st.isFile() ? readOrUndefined(d.path) : undefined
  if (!current || sha256(current) !== d.sha256) {
    return { what: d.path, conflict: `${d.path} was changed since relaykit setup wrote it; it is left alone: remove it yourself, or put it back` }
  }
  return {
    what: d.path,
    change: {
      describe: `remove ${d.path}`,
      done: `removed ${d.path}`,
      apply: () => {
        try {
          fs.rmSync(d.path)
        } catch (err) {
          fail('remove', d.path, err)
        }
        return { records: [], undo: () => writeFileAtomic(d.path, current, st.mode & 0o777) }
      },
    },
  }
}

function removeSymlinkStep(d: Extract<Done, { kind: 'symlink' }>): Step {
  const st = lstatOrUndefined(d.path)
  if (!st) return { what: `${d.path} (already gone)` }
  if (!st.isSymbolicLink() || fs.readlinkSync(d.path) !== d.target) {
    return { what: d.path, conflict: `${d.path} was changed since relaykit setup linked it; it is left alone: remove it yourself` }
  }
  return {
    what: d.path,
    change: {
      describe: `remove the link ${d.path}`,
      done: `removed the link ${d.path}`,
      apply: () => {
        try {
          fs.rmSync(d.path)
        } catch (err) {
          fail('remove', d.path, err)
        }
        return { records: [], undo: () => fs.symlinkSync(d.target, d.path) }
      },
    },
  }
}

function removeBlockStep(d: Extract<Done, { kind: 'block' }>): Step {
  const raw = readOrUndefined(d.path)
  if (raw === undefined) return { what: `block in ${d.path} (file gone)` }
  const rest = withoutInserted(raw.toString('utf8'), d.inserted)
  if (rest === undefined) {
    return { what: d.path, conflict: `${d.path}: the relaykit block was edited since relaykit setup wrote it: take it out by hand` }
  }
  const removeFile = d.createdFile && rest === ''
  return {
    what: d.path,
    change: {
      describe: removeFile ? `remove ${d.path} (it held only the block)` : `take the block out of ${d.path}`,
      done: removeFile ? `removed ${d.path}` : `took the block out of ${d.path}`,
      apply: () => {
        try {
          if (removeFile) fs.rmSync(d.path)
          else fs.writeFileSync(d.path, rest)
        } catch (err) {
          fail('write', d.path, err)
        }
        return { records: [], undo: () => fs.writeFileSync(d.path, raw) }
      },
    },
  }
}
