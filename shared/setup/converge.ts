import fs from 'node:fs'
import path from 'node:path'
import { describeCode } from '../channels/private-directory.js'
import { ExitCode } from '../exit-codes.js'
import { RelayError } from '../relay-error.js'
import { type Artifact, type Done, keyOf } from './artifact.js'
import { ensureDirectories, exists, removeIfEmpty } from './directories.js'
import { type Manifest, manifestText, readManifest, writeFileAtomic } from './manifest.js'
import type { RunKeys } from './run-keys.js'
import { type Step, blockStep, fileStep, removeStep, symlinkStep } from './steps.js'
import { runKeyStep } from './run-keys.js'

/**
 * Bring the machine to the desired list of artifacts: make what is
 * missing, update what setup made and would now make differently, take
 * away what setup made and no longer wants (all of it for `--remove`), and
 * keep the rest untouched.
 *
 * Every check is made before the first change: a file in the way that
 * setup did not make, a block of ours that was edited, stops the run with
 * the file named and nothing changed. Should a change fail half-way (a
 * read-only file system), the changes already made are undone in reverse
 * order before the error is reported. The manifest is written last.
 */

export interface ConvergeOptions {
  readonly manifestPath: string
  readonly command: string
  readonly dryRun: boolean
  /** Windows: the logon entries; absent elsewhere. */
  readonly runKeys?: RunKeys
  /**
   * The manifests of the other profiles (ssh and gpg share the copied
   * relaykit.exe): a file one of them made counts as made by setup here
   * too, and is not removed while another still records it.
   */
  readonly otherManifests?: readonly string[]
}

/** One line per change, for the user: "created …", "would remove …", "unchanged …". */
export interface Outcome {
  readonly lines: readonly string[]
  readonly changed: boolean
}

/** The steps of one run, and what they were computed from. */
interface Plan {
  readonly steps: readonly Step[]
  readonly manifest: Manifest | undefined
  readonly previous: ReadonlyMap<string, Done>
  /** What the other profiles' manifests record. */
  readonly others: readonly Done[]
}

export function converge(desired: readonly Artifact[], options: ConvergeOptions): Outcome {
  const plan = planSteps(desired, options)
  const changed = plan.steps.some((s) => s.change)
  if (options.dryRun) return { lines: plan.steps.map((s) => (s.change ? `would ${s.change.describe}` : `unchanged ${s.what}`)), changed }
  return { lines: applyPlan(plan, options, changed), changed }
}

/** Every step, and every conflict found before anything is changed. */
function planSteps(desired: readonly Artifact[], options: ConvergeOptions): Plan {
  const manifest = readManifest(options.manifestPath)
  const previous = new Map((manifest?.done ?? []).map((d) => [keyOf(d), d]))
  const others = (options.otherManifests ?? []).flatMap((f) => readManifest(f)?.done ?? [])
  const shared = new Map(others.filter((d) => d.kind === 'file').map((d) => [keyOf(d), d]))
  const steps: Step[] = desired.map((a) => stepFor(a, previous.get(keyOf(a)) ?? shared.get(keyOf(a)), options))
  const wanted = new Set(desired.map(keyOf))
  const leftover = [...(manifest?.done ?? [])].filter((d) => d.kind !== 'dir' && !wanted.has(keyOf(d))).reverse()
  steps.push(...leftover.map((d) => (shared.has(keyOf(d)) ? { what: `${keyOf(d).replace(/^\w+:/, '')} (kept: another setup uses it)` } : removeStep(d, options.runKeys))))
  const conflicts = steps.flatMap((s) => (s.conflict ? [s.conflict] : []))
  if (conflicts.length) throw new RelayError(conflicts.join('\n'), ExitCode.ERROR)
  return { steps, manifest, previous, others }
}

/** Make the changes, then the manifest; on any failure undo them all, newest first. */
function applyPlan(plan: Plan, options: ConvergeOptions, changed: boolean): string[] {
  const undo: (() => void)[] = []
  const lines: string[] = []
  const done: Done[] = []
  try {
    for (const step of plan.steps) {
      const result = step.change?.apply() ?? { records: step.record ? [step.record] : [], undo: () => {} }
      undo.push(result.undo)
      done.push(...result.records)
      lines.push(step.change ? step.change.done : `unchanged ${step.what}`)
    }
    done.push(...adoptedDirectories(done, plan.previous, plan.others, options.manifestPath))
    const dirs = settleDirectories(plan.manifest, done, undo, lines)
    saveManifest(options, plan.manifest, [...dirs, ...done.filter((d) => d.kind !== 'dir')], undo, changed)
  } catch (err) {
    undoAll(undo)
    throw err instanceof RelayError ? err : new RelayError(`relaykit setup: ${describeCode(err)}; nothing was changed`, ExitCode.ERROR)
  }
  return lines
}

function undoAll(undo: (() => void)[]): void {
  for (const u of undo.reverse()) {
    try {
      u()
    } catch {
      // best effort: the error reported names what failed
    }
  }
}

/**
 * The folders another profile made for a file this one now records too (or
 * for the manifests both keep side by side): recorded here as well, so
 * whichever profile goes last removes them.
 */
function adoptedDirectories(done: readonly Done[], own: ReadonlyMap<string, Done>, others: readonly Done[], manifestPath: string): Done[] {
  const files = [manifestPath, ...done.filter((d) => d.kind === 'file').map((d) => d.path)]
  return others.filter((d) => d.kind === 'dir' && !own.has(keyOf(d)) && !done.some((x) => keyOf(x) === keyOf(d)) && files.some((f) => f.startsWith(d.path + path.sep)))
}

function stepFor(a: Artifact, previous: Done | undefined, options: ConvergeOptions): Step {
  switch (a.kind) {
    case 'file':
      return fileStep(a, previous)
    case 'symlink':
      return symlinkStep(a, previous)
    case 'block':
      return blockStep(a, previous)
    case 'run-key':
      if (!options.runKeys) throw new RelayError('logon entries exist only on Windows', ExitCode.USAGE)
      return runKeyStep(a, previous, options.runKeys)
  }
}

/**
 * Directories setup made are kept while they hold something and removed
 * (deepest first) once they are empty again; new ones come from the
 * changes just made.
 */
function settleDirectories(manifest: Manifest | undefined, done: readonly Done[], undo: (() => void)[], lines: string[]): Done[] {
  const made = done.filter((d) => d.kind === 'dir')
  const older = (manifest?.done ?? []).filter((d) => d.kind === 'dir' && !made.some((m) => m.path === d.path))
  const kept: Done[] = []
  for (const dir of [...older].sort((a, b) => pathOf(b).length - pathOf(a).length)) {
    if (removeIfEmpty(pathOf(dir))) {
      undo.push(() => fs.mkdirSync(pathOf(dir), { mode: 0o700 }))
      lines.push(`removed ${pathOf(dir)}/`)
    } else if (exists(pathOf(dir))) kept.push(dir)
  }
  return [...kept.reverse(), ...made]
}

/** The manifest goes last; with nothing left to record it goes away, with the directories made for it. */
function saveManifest(options: ConvergeOptions, manifest: Manifest | undefined, done: Done[], undo: (() => void)[], changed: boolean): void {
  const file = options.manifestPath
  const things = done.filter((d) => d.kind !== 'dir')
  if (things.length === 0) {
    if (!manifest) return
    const before = fs.readFileSync(file)
    fs.rmSync(file)
    undo.push(() => fs.writeFileSync(file, before))
    for (const dir of done.filter((d) => d.kind === 'dir').sort((a, b) => pathOf(b).length - pathOf(a).length)) removeIfEmpty(pathOf(dir))
    return
  }
  if (!changed && manifest) return
  const made = ensureDirectories(path.dirname(file), undo)
  const next: Manifest = { version: 1, command: options.command, done: [...done, ...made] }
  try {
    writeFileAtomic(file, manifestText(next), 0o600)
  } catch (err) {
    throw new RelayError(`cannot write ${file}: ${describeCode(err)}; nothing was changed`, ExitCode.ERROR)
  }
}

function pathOf(d: Done): string {
  return d.kind === 'run-key' ? d.name : d.path
}
