/**
 * What a test needs from the machine, checked before it runs rather than
 * discovered by a timeout: the programs of lab/tools.list (OpenSSH, socat,
 * …) and the Windows lab (lab/winlab.ts). When something is missing, the
 * test says what and the exact command that installs it, at once. Outside
 * CI it is then skipped; with CI set (and not "0"/"false") it fails, since
 * CI installs everything and must never pass by skipping.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Test } from 'tap'
import { repoRoot } from './built.js'

/** Installs every apt package the tests need and provisions the Windows lab. */
export const SETUP_COMMAND = 'bash lab/setup.sh'

export interface Tool {
  /** As the tests run it: a command looked up on PATH, or an absolute path. */
  program: string
  /** The Debian/Ubuntu package that provides it. */
  aptPackage: string
}

let table: Map<string, Tool> | undefined

/** lab/tools.list: `program package [# comment]` per line. */
function tools(): Map<string, Tool> {
  if (table) return table
  table = new Map()
  for (const line of fs.readFileSync(path.join(repoRoot, 'lab', 'tools.list'), 'utf8').split('\n')) {
    const [program, aptPackage] = line.replace(/#.*/, '').trim().split(/\s+/)
    if (program && aptPackage) table.set(path.basename(program), { program, aptPackage })
  }
  return table
}

/** Where `name` (a name from lab/tools.list, e.g. "sshd") is installed; throws if it is not listed. */
export function toolPath(name: string): string {
  const tool = tools().get(name)
  if (!tool) throw new Error(`${name} is not in lab/tools.list: add it with its apt package`)
  return tool.program
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

function installed(program: string): boolean {
  if (path.isAbsolute(program)) return executable(program)
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && executable(path.join(dir, program)))
}

/** The tools among `names` that are not installed. */
export function missingTools(names: readonly string[]): Tool[] {
  const wanted = [...new Set(names)].map((name) => {
    toolPath(name)
    return tools().get(name) as Tool
  })
  return wanted.filter((tool) => !installed(tool.program))
}

/** "missing socat (package socat): install it with `…`", or undefined when nothing is missing. */
export function missingToolsMessage(names: readonly string[]): string | undefined {
  const missing = missingTools(names)
  if (missing.length === 0) return undefined
  const packages = [...new Set(missing.map((tool) => tool.aptPackage))]
  const sudo = process.getuid?.() === 0 ? '' : 'sudo '
  const list = missing.map((tool) => `${path.basename(tool.program)} (package ${tool.aptPackage})`).join(', ')
  return (
    `missing ${list}: install with \`${sudo}apt-get install --no-install-recommends ${packages.join(' ')}\`` +
    ` (or everything the tests need: \`${SETUP_COMMAND}\`)`
  )
}

/** Is CI set (and not "0" or "false")? */
export function ciIsSet(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false'
}

/**
 * Something `t` needs is missing: fail with `reason` on CI, else skip with
 * it. Usable at any point of `t` (a skipped subtest, not a plan of 0,
 * which tap refuses once a subtest was queued).
 */
export function unavailable(t: Test, reason: string): void {
  if (ciIsSet()) t.fail(reason)
  else void t.skip(reason, () => {})
}

/**
 * Options for a subtest that runs `names`: `{}` when all are installed;
 * otherwise the subtest is skipped with the install command, and on CI `t`
 * (its parent) fails with it.
 *
 *   const OPENSSH = needs(t, ['ssh-agent', 'ssh-add', 'ssh-keygen'])
 *   t.test('…', OPENSSH, async (t) => { … })
 */
export function needs(t: Test, names: readonly string[]): { skip?: string } {
  const reason = missingToolsMessage(names)
  if (reason === undefined) return {}
  if (ciIsSet()) t.fail(reason)
  return { skip: reason }
}

/** Throw the install hint if any of `names` is missing: fixtures call it so that a test that forgot needs() fails at once, not by a timeout. */
export function assertTools(names: readonly string[]): void {
  const reason = missingToolsMessage(names)
  if (reason !== undefined) throw new Error(reason)
}
