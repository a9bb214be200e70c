/**
 * `relaykit.exe setup pageant|pipe … --to …` under Wine: the logon entry in
 * the current user's Run key, read back with Wine's own `reg query`; a
 * second run changes nothing; --remove takes it away; someone else's value
 * under the same name is refused and left alone.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { builtExecutable, repoRoot } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { spawnSync } from 'node:child_process'
import { type LabEnv, ensureWineServer, labWineProcesses, requireLab, runWine, spawnWine, uniquePipeName, winPath } from '../../../lab/winlab.js'
import { waitFor } from '../../fixtures/openssh.js'

const RUN = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run'

/** The value of `name` under the Run key, as reg query prints it; undefined when there is none. */
async function runValue(lab: LabEnv, name: string): Promise<string | undefined> {
  const r = await runWine(lab, 'reg', ['query', RUN, '/v', name])
  if (r.code !== 0) return undefined
  const line = r.stdout.split(/\r?\n/).find((l) => l.trim().startsWith(name))
  return line?.trim().slice(name.length).trim().replace(/^REG_SZ\s+/, '')
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  const exe = path.join(shortTempDir(t), 'relaykit.exe')
  fs.copyFileSync(builtExecutable('win-x64'), exe)
  const setup = (args: string[]) => runWine(lab, exe, ['setup', ...args], { t, timeoutMs: 120_000 })
  /** What a run of this test that died half-way left: its manifest and its value. */
  const clear = async (args: string[], name: string) => {
    await setup([...args, '--remove'])
    await runWine(lab, 'reg', ['delete', RUN, '/v', name, '/f'])
  }

  t.test('setup pageant --to openssh: the logon entry, unchanged the second time, gone after --remove', async (t) => {
    const name = 'relaykit pageant to openssh'
    await clear(['pageant', '--to', 'openssh'], name)
    t.equal(await runValue(lab, name), undefined, 'no entry to begin with')

    const dry = await setup(['pageant', '--to', 'openssh', '--dry-run'])
    t.equal(dry.code, 0, dry.stderr)
    t.match(dry.stdout, `would add the logon entry ${RUN}\\${name}`)
    t.equal(await runValue(lab, name), undefined, 'the dry run wrote nothing')

    const first = await setup(['pageant', '--to', 'openssh'])
    t.equal(first.code, 0, first.stderr)
    t.match(first.stdout, `added the logon entry ${RUN}\\${name}`)
    t.equal(await runValue(lab, name), `${winPath(exe)} relay-listen --background //./pipe/openssh-ssh-agent -- pageant-relay`, 'read back with reg query')

    const second = await setup(['pageant', '--to', 'openssh'])
    t.equal(second.code, 0, second.stderr)
    t.match(second.stdout, `unchanged ${RUN}\\${name}`)
    t.notMatch(second.stdout, 'added')

    const removed = await setup(['pageant', '--to', 'openssh', '--remove'])
    t.equal(removed.code, 0, removed.stderr)
    t.match(removed.stdout, `removed the logon entry ${RUN}\\${name}`)
    t.equal(await runValue(lab, name), undefined, 'gone from the registry')
  })

  t.test('setup pipe NAME --to cygwin FILE: the entry serves that pipe through that file', async (t) => {
    const name = 'relaykit pipe to cygwin'
    await clear(['pipe', '--to', 'cygwin'], name)
    const r = await setup(['pipe', '//./pipe/openssh-ssh-agent', '--to', 'cygwin', 'C:\\agent dir\\agent.sock'])
    t.equal(r.code, 0, r.stderr)
    t.equal(await runValue(lab, name), `${winPath(exe)} relay-listen --background --cygwin "C:\\agent dir\\agent.sock" -- npiperelay -ei -s //./pipe/openssh-ssh-agent`)
    t.equal((await setup(['pipe', '--to', 'cygwin', '--remove'])).code, 0)
    t.equal(await runValue(lab, name), undefined)
  })

  t.test('a value of the same name that setup did not write: refused, named, left alone', async (t) => {
    const name = 'relaykit pageant to openssh'
    await clear(['pageant', '--to', 'openssh'], name)
    t.equal((await runWine(lab, 'reg', ['add', RUN, '/v', name, '/d', 'C:\\mine.exe', '/f'])).code, 0)
    t.teardown(() => runWine(lab, 'reg', ['delete', RUN, '/v', name, '/f']).then(() => {}))
    const r = await setup(['pageant', '--to', 'openssh'])
    t.equal(r.code, 1)
    t.match(r.stderr, `${RUN}\\${name} exists and relaykit setup did not write it`)
    t.equal(await runValue(lab, name), 'C:\\mine.exe', 'untouched')
  })

  t.test('the logon entry, run as Windows runs it, starts a listener that serves: a Cygwin socket file in a folder with a space, to a named pipe', async (t) => {
    const name = 'relaykit pipe to cygwin'
    await clear(['pipe', '--to', 'cygwin'], name)
    const pipe = uniquePipeName('setup')
    const server = spawnWine(lab, lab.nodeExe, [winPath(path.join(repoRoot, 'lab', 'fixtures', 'echo-pipe-server.cjs'))], { stdio: ['ignore', 'pipe', 'pipe'], env: { PIPE: pipe, MODE: 'echo' }, t })
    let ready = ''
    server.stdout?.on('data', (c: Buffer) => (ready += c.toString()))
    await waitFor(() => ready.includes('ready'), 'pipe server', 30_000)
    const dir = path.join(path.dirname(exe), 'agent dir')
    fs.mkdirSync(dir)
    const file = path.join(dir, 'agent.sock')
    t.equal((await setup(['pipe', pipe.replace(/\\/g, '/'), '--to', 'cygwin', winPath(file)])).code, 0)
    t.teardown(() => clear(['pipe', '--to', 'cygwin'], name))
    const command = await runValue(lab, name)
    t.match(command, `"${winPath(file)}"`, 'the path with a space is quoted')

    // What Explorer does with a Run value: CreateProcess with the command line as it stands.
    const launcher = path.join(path.dirname(exe), 'run-line.cjs')
    fs.writeFileSync(launcher, [
      "const { spawnSync } = require('node:child_process')",
      'const line = process.env.LOGON_LINE',
      'const [, program, rest] = /^("[^"]+"|\\S+) (.*)$/.exec(line)',
      "const r = spawnSync(program.replace(/\"/g, ''), [rest], { windowsVerbatimArguments: true, stdio: 'inherit' })",
      'process.exitCode = r.status ?? 1',
    ].join('\n'))
    t.teardown(() => {
      for (const p of labWineProcesses(lab)) if (p.cmd.includes(path.basename(path.dirname(exe)))) process.kill(p.pid, 'SIGKILL')
    })
    const started = await runWine(lab, lab.nodeExe, [winPath(launcher)], { t, env: { LOGON_LINE: command ?? '' }, timeoutMs: 60_000 })
    t.equal(started.code, 0, `the entry's command ran and its listener came up: ${started.stderr}`)
    t.ok(fs.existsSync(file), 'the Cygwin socket file is there')
    const linux = builtExecutable('linux-x64')
    const r = spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', linux, 'uds-relay', file], { input: 'through the logon entry', encoding: 'utf8', timeout: 30_000 })
    t.equal(r.stdout, 'through the logon entry', `uds-relay -> Cygwin file -> relay-listen -> npiperelay -> pipe and back (${r.stderr})`)
  })
}
