/**
 * What a command prints and then exits on (--version, --help) reaches
 * stdout whole, whether stdout is a file or a pipe, in both forms of the
 * program: installed from npm (the packed tarball, `npm install --global`
 * into a temporary prefix, offline) and the standalone executable. The
 * Windows executable under Wine: wine.test.ts.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { isolatedLinuxExecutable, repoRoot } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { run } from '../../fixtures/openssh.js'

const CLEAN = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE']
const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version

interface Output {
  code: number | null
  stdout: string
  stderr: string
}

function collect(child: ReturnType<typeof spawn>, read: () => string): Promise<Output> {
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: read(), stderr })))
}

/** `command args > FILE`. */
function toFile(dir: string, command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Output> {
  const file = path.join(dir, `out-${Math.random().toString(36).slice(2)}`)
  const fd = fs.openSync(file, 'w')
  const child = spawn('/usr/bin/env', [...CLEAN, command, ...args], { stdio: ['ignore', fd, 'pipe'], env })
  fs.closeSync(fd)
  return collect(child, () => fs.readFileSync(file, 'utf8'))
}

/** `command args | cat`: stdout is a pipe (a FIFO, not a socket). */
function toPipe(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Output> {
  const child = spawn('/bin/sh', ['-c', '"$0" "$@" | cat', '/usr/bin/env', ...CLEAN, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  return collect(child, () => stdout)
}

/** What each command must print on stdout, whole; nothing on stderr; exit 0. */
const cases: { command: string; args: string[]; expect: RegExp }[] = [
  { command: 'relaykit', args: ['--version'], expect: new RegExp(`^relaykit ${version}\\n$`) },
  { command: 'relaykit', args: ['--help'], expect: /^relaykit [^]*Usage:[^]*Relays:[^]*Exit codes:[^]*6 +timeout[^\n]*\n$/ },
  { command: 'uds-relay', args: ['--version'], expect: new RegExp(`^uds-relay \\(relaykit\\) ${version}\\n$`) },
  { command: 'uds-relay', args: ['-h'], expect: /^Usage: uds-relay [^]*-cygwin-variant[^]*Exit codes:[^]*6 +timeout[^\n]*\n$/ },
  { command: 'npiperelay', args: ['-version'], expect: new RegExp(`^npiperelay \\(relaykit\\) ${version}\\n$`) },
  { command: 'pageant-relay', args: ['--version'], expect: new RegExp(`^pageant-relay \\(relaykit\\) ${version}\\n$`) },
  { command: 'relay-listen', args: ['--help'], expect: /^Usage: relay-listen [^]*Exit codes:[^]*\n$/ },
]

async function checkAll(t: Test, dir: string, commandPath: (name: string) => { command: string; args: string[] }, env: NodeJS.ProcessEnv) {
  for (const c of cases) {
    const { command, args } = commandPath(c.command)
    const line = `${c.command} ${c.args.join(' ')}`
    for (const [sink, out] of [
      ['file', await toFile(dir, command, [...args, ...c.args], env)],
      ['pipe', await toPipe(command, [...args, ...c.args], env)],
    ] as const) {
      t.equal(out.code, 0, `${line} > ${sink}: exit 0`)
      t.match(out.stdout, c.expect, `${line} > ${sink}: all of it on stdout (${out.stdout.length} bytes)`)
      t.equal(out.stderr, '', `${line} > ${sink}: nothing on stderr`)
    }
  }
}

/** npm's environment without what `npm test` put there (its own config, tap's loaders). */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|NODE_OPTIONS$|NODE_V8_COVERAGE$|TAP)/i.test(k)))
}

t.test('installed from npm: the packed tarball, installed globally into a temporary prefix', async (t) => {
  const dir = shortTempDir(t)
  const env = npmEnv()
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  // Offline, from an empty cache: the dependencies come as tarballs packed from
  // our node_modules (their own pack scripts are not ours to run).
  const sources = [repoRoot, ...Object.keys(pkg.dependencies).map((d) => path.join(repoRoot, 'node_modules', d))]
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir, ...sources], { env, cwd: dir })
  const tarballs = (JSON.parse(packed.stdout) as { filename: string }[]).map((p) => path.join(dir, p.filename))
  t.equal(tarballs.length, sources.length, `packed ${tarballs.map((f) => path.basename(f)).join(', ')}`)
  const prefix = path.join(dir, 'prefix')
  await run(
    'npm',
    ['install', '--global', '--prefix', prefix, '--cache', path.join(dir, 'cache'), '--offline', '--ignore-scripts', '--no-audit', '--no-fund', ...tarballs],
    { env, cwd: dir, timeout: 120_000 },
  )
  const bin = path.join(prefix, 'bin')
  for (const c of new Set(cases.map((x) => x.command))) t.ok(fs.existsSync(path.join(bin, c)), `npm put ${c} on PATH`)
  await checkAll(t, dir, (name) => ({ command: path.join(bin, name), args: [] }), { ...env, PATH: `${bin}:${env.PATH ?? ''}` })
})

t.test('the standalone executable', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  await checkAll(t, path.dirname(exe), (name) => ({ command: exe, args: name === 'relaykit' ? [] : [name] }), process.env)
})
