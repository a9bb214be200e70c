/**
 * relay-listen's lifecycle on Windows (the built .exe under Wine):
 * --background comes up on a Cygwin socket file and on a named pipe (the
 * Cygwin file used to time out: its readiness was probed as a Unix
 * socket), a second start finds the address served and exits 0 quietly,
 * and the file of a listener killed outright (what TerminateProcess does;
 * no handler runs) is replaced as stale on the next start.
 *
 * Signals cannot be shown here: Windows has no SIGTERM to handle (Wine
 * kills the process), and console close events do not reach a process
 * started without a console; on Linux, test/relays/relay-listen/startup.test.ts
 * shows SIGTERM, SIGINT and SIGHUP removing every kind of address.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { builtExecutable } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, labWineProcesses, requireLab, runWine, uniquePipeName, winPath } from '../../../lab/winlab.js'
import { connectCygwin } from '../../../shared/channels/cygwin/client.js'
import { parseCygwinSocketFile } from '../../../shared/channels/cygwin/format.js'

/** Start relay-listen under Wine, timed; the listeners it leaves are killed at teardown. */
async function listen(t: Test, lab: LabEnv, args: string[], marker: string) {
  t.teardown(() => killListeners(lab, marker))
  const started = Date.now()
  const r = await runWine(lab, builtExecutable('win-x64'), ['relay-listen', ...args], { t, timeoutMs: 120_000 })
  return { ...r, ms: Date.now() - started }
}

/** SIGKILL the lab processes whose command line holds `marker`: no handler of theirs runs. */
function killListeners(lab: LabEnv, marker: string): number {
  const found = labWineProcesses(lab).filter((p) => p.cmd.includes(marker))
  for (const p of found) process.kill(p.pid, 'SIGKILL')
  return found.length
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  t.test('--background --cygwin: up at once, served, a killed listener\'s file replaced', async (t) => {
    const file = path.join(shortTempDir(t), 'agent.sock')
    const args = ['--background', '--cygwin', winPath(file), '--', 'pageant-relay']
    const first = await listen(t, lab, ['-v', ...args], winPath(file))
    t.equal(first.code, 0, `exit 0 (${first.stderr.trim()})`)
    t.match(first.stderr, /listening in the background as pid \d+/)
    t.comment(`--background --cygwin returned after ${first.ms} ms`)
    const port = parseCygwinSocketFile(fs.readFileSync(file), file).port
    ;(await connectCygwin(file, { variant: 'cygwin' })).destroy()
    t.pass('the listener answers the handshake')

    const again = await listen(t, lab, args, winPath(file))
    t.same([again.code, again.stderr], [0, ''], 'a second start finds it served and exits 0 quietly')

    t.ok(killListeners(lab, winPath(file)) >= 1, 'listener killed outright')
    await new Promise((r) => setTimeout(r, 500))
    t.ok(fs.existsSync(file), 'a killed listener leaves its file')

    const third = await listen(t, lab, args, winPath(file))
    t.equal(third.code, 0, `the next start replaces the stale file (${third.stderr.trim()})`)
    t.not(parseCygwinSocketFile(fs.readFileSync(file), file).port, port, 'a new port in the file')
    ;(await connectCygwin(file, { variant: 'cygwin' })).destroy()
  })

  t.test('--background on a named pipe: up at once; a second start, foreground or not, finds it served', async (t) => {
    const pipe = uniquePipeName('bg').replace(/\\/g, '/')
    const first = await listen(t, lab, ['-v', '--background', pipe, '--', 'pageant-relay'], pipe)
    t.equal(first.code, 0, `exit 0 (${first.stderr.trim()})`)
    t.match(first.stderr, /listening in the background as pid \d+/)
    t.comment(`--background on a pipe returned after ${first.ms} ms`)
    const again = await listen(t, lab, ['--background', pipe, '--', 'pageant-relay'], pipe)
    t.same([again.code, again.stderr], [0, ''], '--background again: exit 0, quietly')
    const fg = await listen(t, lab, ['-v', pipe, '--', 'pageant-relay'], pipe)
    t.equal(fg.code, 0, 'a foreground listener on a served pipe exits 0')
    t.match(fg.stderr, /is already served: nothing to do/)
  })
}
