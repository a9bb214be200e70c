/**
 * The Pageant listener's contract under Wine, in node.exe: while it listens,
 * the window "Pageant" exists, the pipe answers and isLive says so;
 * `close()` resolves only once the window and the pipe are gone (what
 * relay-listen awaits on SIGTERM, Ctrl+C or the console closing, none of
 * which a test process under Wine can receive), and the --openssh-config
 * file is emptied, as Pageant leaves it.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { assertCompiled, repoRoot } from '../../../../lab/built.js'
import { shortTempDir } from '../../../../lab/temp-dir.js'
import { ensureWineServer, holdPageantAbsent, requireLab, runWine, winPath } from '../../../../lab/winlab.js'

const SCRIPT = String.raw`
import fs from 'node:fs'
import net from 'node:net'
const lib = (m) => 'file:///' + process.env.LIB + '/' + m
const { pageantListener } = await import(lib('channels/pageant/server.js'))
const { findWindow } = await import(lib('win32/window-messages.js'))
const { discoverPageantPipeName } = await import(lib('channels/pageant/pipe-name.js'))
const conf = process.env.CONF
const kind = pageantListener({ pipe: true, window: true, timeoutMs: 1000, upstream: 'test', opensshConfig: conf })
const quiet = { verbose: false, error() {}, debug() {} }
const pipeState = (name) => new Promise((resolve) => {
  const s = net.connect(name)
  s.on('connect', () => { s.destroy(); resolve('connects') })
  s.on('error', (e) => resolve(e.code))
})
const pipe = await discoverPageantPipeName()
const out = {}
const listening = await kind.listen('Pageant', (c) => c.destroy(), { log: quiet })
out.during = { window: !!(await findWindow('Pageant', 'Pageant')), pipe: await pipeState(pipe), live: await kind.isLive('Pageant'), config: fs.readFileSync(conf, 'latin1') === 'IdentityAgent ' + pipe + '\r\n' }
await listening.close()
out.after = { window: !!(await findWindow('Pageant', 'Pageant')), pipe: await pipeState(pipe), live: await kind.isLive('Pageant'), config: fs.readFileSync(conf, 'latin1') }
fs.writeSync(1, JSON.stringify(out) + '\n')
process.exit(0)
`

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  assertCompiled(['channels/pageant/server', 'win32/pageant-window', 'win32/pageant-window-thread'])

  t.test('listen, then close(): window and pipe there, then gone; the config file emptied', async (t) => {
    t.teardown(await holdPageantAbsent(lab, { t, timeoutMs: 600_000 }))
    const conf = path.join(shortTempDir(t), 'pageant.conf')
    const env = { LIB: winPath(path.join(repoRoot, 'lib', 'shared')).replace(/\\/g, '/'), CONF: winPath(conf) }
    const r = await runWine(lab, lab.nodeExe, ['--input-type=module', '-e', SCRIPT], { t, env, timeoutMs: 120_000 })
    const line = r.stdout.trim().split('\n').pop() ?? ''
    t.equal(r.code, 0, r.stderr)
    const out = JSON.parse(line) as Record<string, unknown>
    t.same(out.during, { window: true, pipe: 'connects', live: true, config: true }, 'listening: window, pipe, live, the IdentityAgent line')
    t.same(out.after, { window: false, pipe: 'ENOENT', live: false, config: '' }, 'closed: no window, no pipe, not live, the file emptied')
    t.ok(fs.existsSync(conf), 'the file is left in place, as Pageant leaves it')
  })
}
