/**
 * relaykit-win-x64.exe under Wine: what a command prints and then exits on
 * (--version, --help) reaches stdout whole, to a file and to a pipe. The
 * Linux forms: exit-output.test.ts.
 */
import fs from 'node:fs'
import t, { type Test } from 'tap'
import { builtExecutable, repoRoot } from '../../../lab/built.js'
import { type LabEnv, ensureWineServer, requireLab, runWine, spawnHost } from '../../../lab/winlab.js'

const version = (JSON.parse(fs.readFileSync(`${repoRoot}/package.json`, 'utf8')) as { version: string }).version

/** `relaykit.exe ARGS | cat`: stdout is a pipe (a FIFO), as in a WSL or Linux shell. */
function toPipe(lab: LabEnv, args: string[], t: Test): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnHost(lab, '/bin/sh', ['-c', '"$0" "$@" | cat', lab.wine64, builtExecutable('win-x64'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    t,
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })))
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  const cases: { args: string[]; expect: RegExp }[] = [
    { args: ['--version'], expect: new RegExp(`^relaykit ${version}\\n$`) },
    { args: ['--help'], expect: /^relaykit [^]*Usage:[^]*Relays:[^]*Exit codes:[^]*6 +timeout[^\n]*\n$/ },
    { args: ['uds-relay', '--version'], expect: new RegExp(`^uds-relay \\(relaykit\\) ${version}\\n$`) },
    { args: ['uds-relay', '-h'], expect: /^Usage: uds-relay [^]*-cygwin-variant[^]*Exit codes:[^]*6 +timeout[^\n]*\n$/ },
    { args: ['pageant-relay', '-version'], expect: new RegExp(`^pageant-relay \\(relaykit\\) ${version}\\n$`) },
  ]
  t.test('--version and --help reach stdout whole: to a file and to a pipe', async (t) => {
    for (const c of cases) {
      const line = `relaykit.exe ${c.args.join(' ')}`
      const file = await runWine(lab, builtExecutable('win-x64'), c.args, { t })
      t.equal(file.code, 0, `${line} > file: exit 0 ${file.stderr}`)
      t.match(file.stdout, c.expect, `${line} > file: all of it (${file.stdout.length} bytes)`)
      t.equal(file.stderr, '', `${line} > file: nothing on stderr`)
      const pipe = await toPipe(lab, c.args, t)
      t.equal(pipe.code, 0, `${line} | cat: exit 0 ${pipe.stderr}`)
      t.match(pipe.stdout, c.expect, `${line} | cat: all of it (${pipe.stdout.length} bytes)`)
      t.equal(pipe.stderr, '', `${line} | cat: nothing on stderr`)
    }
  })
}
