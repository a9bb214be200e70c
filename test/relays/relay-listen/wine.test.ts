/**
 * relay-listen on Windows (under Wine): a named pipe, private to the user,
 * in front of pageant-relay — the wsl-ssh-pageant replacement for
 * Win32-OpenSSH clients, reached by a Windows-side client.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { builtExecutable } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { agentKeyCount, ensureWineServer, requireLab, runWine, spawnWine, startPageant, uniquePipeName, winPath } from '../../../lab/winlab.js'
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
    // would garble its exit ("Failed to sync '<stdout>'", exit code 9).
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

if (lab) {
  t.test('--cygwin on Windows: the socket file carries the SYSTEM attribute, and uds-relay.exe gets through it to Pageant', async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const dir = shortTempDir(t)
    const file = path.join(dir, 'agent.sock')
    const logFile = path.join(dir, 'listen.log')
    const fd = fs.openSync(logFile, 'w')
    spawnWine(lab, builtExecutable('win-x64'), ['relay-listen', '-v', '--cygwin', winPath(file), '--', 'pageant-relay'], {
      stdio: ['ignore', 'ignore', fd],
      t,
    })
    fs.closeSync(fd)
    await waitFor(() => fs.readFileSync(logFile, 'utf8').includes('listening'), 'listener', 60_000)
    t.match(fs.readFileSync(file, 'latin1'), /^!<socket >\d+ s /)
    const attrib = await runWine(lab, 'cmd', ['/c', 'attrib', winPath(file)])
    t.match(attrib.stdout, /^\s*\S*S\S*\s+Z:/m, `SYSTEM attribute set (${attrib.stdout.trim()})`)
    // The client side on Windows: the SYSTEM attribute selects Cygwin's 12-byte credentials.
    const r = await runWine(lab, builtExecutable('win-x64'), ['uds-relay', '-ei', winPath(file)], {
      input: Buffer.from([0, 0, 0, 1, 11]),
    })
    t.equal(r.code, 0, r.stderr)
    t.equal(Buffer.from(r.stdout, 'latin1')[4], 12, 'IDENTITIES_ANSWER from Pageant through the Cygwin socket')
  })
}
