/**
 * relaykit as Pageant (`relay-listen --pageant`) under Wine: what a request
 * costs through relaykit's Pageant, over its pipe and over WM_COPYDATA,
 * against the same upstream asked directly, in one run. The upstream is a
 * Linux ssh-agent behind a Cygwin socket file (Linux relay-listen --cygwin);
 * every path is measured the same way, from Linux through socat to a
 * relaykit.exe under Wine on one connection:
 *
 *   direct:       socat → uds-relay ────────────────────────────→ Cygwin file → ssh-agent
 *   pipe:         socat → pageant-relay → Pageant pipe → relay-listen → uds-relay → …
 *   WM_COPYDATA:  socat → pageant-relay → Pageant window → relay-listen → uds-relay (one connection, kept) → …
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { type LabEnv, ensureWineServer, holdPageantAbsent, runWine, wineEnv } from '../lab/winlab.js'
import { perRequest } from './measure.js'
import { daemon, socat, sshAgent, stopAll, waitForFile } from './processes.js'
import type { Report } from './results-table.js'

export interface PageantServerOptions {
  exe: string
  linuxExe: string
  requests: number
}

const IDENTITIES = Buffer.from([0, 0, 0, 1, 11])

/** Wait until relaykit's Pageant answers over WM_COPYDATA. */
async function servedByRelaykit(lab: LabEnv, exe: string): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const r = await runWine(lab, exe, ['pageant-relay', '--transport', 'wmcopydata'], { input: IDENTITIES, timeoutMs: 30_000 })
    if (Buffer.from(r.stdout, 'latin1')[4] === 12) return
    if (Date.now() > deadline) throw new Error(`relaykit's Pageant did not come up: ${r.stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

export async function benchPageantServer(report: Report, lab: LabEnv, o: PageantServerOptions): Promise<void> {
  ensureWineServer(lab)
  // relaykit's window "Pageant" and the real Pageant cannot both exist: take the lab's Pageant turn.
  const release = await holdPageantAbsent(lab, { timeoutMs: 600_000 })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkp-'))
  try {
    const agent = await sshAgent(dir)
    const cygFile = path.join(dir, 'agent.cygsock')
    daemon(o.linuxExe, ['relay-listen', '--cygwin', cygFile, '--', 'uds-relay', agent])
    await waitForFile(cygFile, 30_000)
    const env = wineEnv(lab)
    // The Unix path as it is: Wine resolves it on drive Z:, and socat's EXEC string would take Z:'s colon apart.
    const upstream = ['uds-relay', '--cygwin-variant', 'cygwin', cygFile]
    daemon(lab.wine64, [o.exe, 'relay-listen', '--pageant', '--', ...upstream], env)
    await servedByRelaykit(lab, o.exe)

    const w = `EXEC:${lab.wine64} ${o.exe}`
    const direct = path.join(dir, 'direct.sock')
    const pipe = path.join(dir, 'pipe.sock')
    const window = path.join(dir, 'window.sock')
    await socat(direct, `${w} ${upstream.join(' ')}`, env)
    await socat(pipe, `${w} pageant-relay --transport pipe`, env)
    await socat(window, `${w} pageant-relay --transport wmcopydata`, env)

    const group = `request through relaykit as Pageant (${o.requests}x, one connection, Wine)`
    const baseline = 'the upstream asked directly (uds-relay)'
    report.add(group, baseline, await perRequest(direct, o.requests), 'ms')
    report.add(group, "relaykit's Pageant pipe (pageant-relay --transport pipe)", await perRequest(pipe, o.requests), 'ms', baseline)
    report.add(group, "relaykit's Pageant window (pageant-relay --transport wmcopydata)", await perRequest(window, o.requests), 'ms', baseline)
  } finally {
    await stopAll()
    release()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
