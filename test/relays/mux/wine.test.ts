/**
 * The WSL recipe without a process per connection: relay-listen --mux on
 * Linux in front of one `relaykit-win-x64.exe mux …` under Wine, to the
 * real Pageant.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { agentClientLoad } from '../../fixtures/agent-load.js'
import { builtExecutable, isolatedLinuxExecutable } from '../../../lab/built.js'
import { startListener } from '../../fixtures/listener.js'
import { SSHD_TOOLS, run, sshAdd, startSshd } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'
import { ensureWineServer, requireLab, startPageant, wineEnv } from '../../../lab/winlab.js'

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  t.test('mux under Wine to the real Pageant', needs(t, [...SSHD_TOOLS, 'ssh-add']), async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const pub = fs.readFileSync(path.join(lab.keysDir, 'id_ed25519.pub'), 'utf8').trim()
    const fp = (await run('ssh-keygen', ['-l', '-f', path.join(lab.keysDir, 'id_ed25519.pub')])).stdout.split(' ')[1] as string
    const win = builtExecutable('win-x64')
    const variants: Record<string, string[]> = {
      'pageant-relay --transport pipe': ['pageant-relay', '--transport', 'pipe'],
      'pageant-relay --transport wmcopydata': ['pageant-relay', '--transport', 'wmcopydata'],
      'npiperelay -ei -s': ['npiperelay', '-ei', '-s', pageant.pipeName.replace(/\\/g, '/')],
    }
    for (const [name, relay] of Object.entries(variants)) {
      t.test(name, async (t) => {
        const exe = isolatedLinuxExecutable(t)
        const dir = path.dirname(exe)
        const sock = path.join(dir, 'agent.sock')
        const l = await startListener(t, exe, ['-v', sock, '--mux', '--', lab.wine64, win, 'mux', ...relay], { socket: sock, env: wineEnv(lab) })
        t.match((await sshAdd(sock, ['-l'])).stdout, fp, 'ssh-add -l')
        const sshd = await startSshd(t, dir, pub)
        t.equal((await sshd.ssh(sock, [], 'echo signed')).stdout.trim(), 'signed', 'ssh login')
        const load = await agentClientLoad(sock, { clients: 32, requestsPerClient: 50 })
        t.equal(load.failures, 0, load.errors.slice(0, 3).join('; '))
        t.equal(load.answered, 1600)
        t.equal([...l.log().matchAll(/mux process \d+ ready/g)].length, 1, 'one Windows process for every connection')
      })
    }
  })
}
