/**
 * relay-listen on Windows (under Wine): a named pipe, private to the user,
 * in front of pageant-relay — the wsl-ssh-pageant replacement for
 * Win32-OpenSSH clients, reached by a Windows-side client.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { builtExecutable } from '../../fixtures/built.js'
import { shortTempDir } from '../../fixtures/temp-dir.js'
import { agentKeyCount, ensureWineServer, requireLab, spawnWine, startPageant, uniquePipeName } from '../../fixtures/winlab.js'
import { waitFor } from '../../fixtures/openssh.js'

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  t.test('//./pipe/NAME -- pageant-relay: a Windows client lists the real Pageant key', async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const pipe = uniquePipeName('listen')
    const logFile = path.join(shortTempDir(t), 'listen.log')
    const fd = fs.openSync(logFile, 'w')
    // A file for stderr: the listener loads koffi, and under Wine a pipe there
    // would garble its exit (see WINLAB.md).
    spawnWine(lab, builtExecutable('win-x64'), ['relay-listen', '-v', pipe.replace(/\\/g, '/'), '--', 'pageant-relay'], {
      stdio: ['ignore', 'ignore', fd],
      t,
    })
    fs.closeSync(fd)
    await waitFor(() => fs.readFileSync(logFile, 'utf8').includes('listening'), 'listener', 60_000)
    t.match(fs.readFileSync(logFile, 'utf8'), /in-process: pageant-relay/)
    t.equal(await agentKeyCount(lab, pipe), 1, 'a node.exe client lists the key through the pipe listener')
    t.equal(await agentKeyCount(lab, pipe), 1, 'and again, on a new connection')
  })
}
