/**
 * relaykit as Pageant (`relay-listen --pageant`) under Wine: what a request
 * costs through relaykit's Pageant, over its pipe and over WM_COPYDATA,
 * against the same upstream asked directly, in one run. The upstream is a
 * Linux ssh-agent behind a Cygwin socket file (Linux relay-listen --cygwin);
 * every path is measured the same way, from Linux through socat to a
 * relaykit.exe under Wine on one connection:
 *
 *   direct:       socat → uds-relay ────────────────────────────→ Cygwin file → ssh-agent
 *   pipe:         socat → npiperelay ──→ Pageant pipe → relay-listen → uds-relay → …
 *   WM_COPYDATA:  socat → pageant-relay → Pageant window → relay-listen → uds-relay (one connection, kept) → …
 *   + one hop:    socat → npiperelay ──→ node.exe forwarder pipe → Pageant pipe → …
 *
 * The pipe is asked by npiperelay, a byte relay like the baseline's
 * uds-relay, so that the two differ only in what relaykit as Pageant adds
 * (PuTTY's clients open the pipe themselves; any relay in front is the
 * bench's, not theirs). WM_COPYDATA needs pageant-relay.
 *
 * The last row is the floor of any relay that adds a pipe: the same pipe path
 * with one more hop made by Node's own named-pipe code (no relaykit in it),
 * against the pipe row. It is what a Wine named-pipe hop costs, and so what
 * relaykit's Pageant pipe cannot cost less than here.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { type LabEnv, ensureWineServer, holdPageantAbsent, runWine, uniquePipeName, wineEnv, winPath } from '../lab/winlab.js'
import { interleaved, perRequest } from './measure.js'
import { daemon, socat, sshAgent, stopAll, waitForFile } from './processes.js'
import type { Report } from './results-table.js'
import { forward, source } from './wine.js'

export interface PageantServerOptions {
  exe: string
  linuxExe: string
  requests: number
}

const IDENTITIES = Buffer.from([0, 0, 0, 1, 11])
/** Rounds the requests are measured in, each path in turn, so the machine's load falls on all alike. */
const ROUNDS = 5

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
    const config = path.join(dir, 'openssh.conf')
    daemon(lab.wine64, [o.exe, 'relay-listen', '--pageant', '--openssh-config', winPath(config), '--', ...upstream], env)
    await servedByRelaykit(lab, o.exe)
    const pageantPipe = /^IdentityAgent "?([^"\r\n]+)/m.exec(fs.readFileSync(config, 'utf8'))?.[1]
    if (!pageantPipe) throw new Error(`no IdentityAgent line in ${config}`)
    const hop = uniquePipeName('bench-hop')
    const ready = path.join(dir, 'forwarder.ready')
    daemon(lab.wine64, [lab.nodeExe, winPath(source('bench/fixtures/pipe-forwarder.cjs'))], { ...env, PIPE: hop, TARGET: pageantPipe, READY: winPath(ready) })
    await waitForFile(ready, 60_000)

    const w = `EXEC:${lab.wine64} ${o.exe}`
    const direct = path.join(dir, 'direct.sock')
    const pipe = path.join(dir, 'pipe.sock')
    const window = path.join(dir, 'window.sock')
    const hopped = path.join(dir, 'hop.sock')
    await socat(direct, `${w} ${upstream.join(' ')}`, env)
    await socat(pipe, `${w} npiperelay -ei -s ${forward(pageantPipe)}`, env)
    await socat(window, `${w} pageant-relay --transport wmcopydata`, env)
    await socat(hopped, `${w} npiperelay -ei -s ${forward(hop)}`, env)

    const n = Math.max(1, Math.round(o.requests / ROUNDS))
    const t = await interleaved(ROUNDS, {
      direct: () => perRequest(direct, n),
      pipe: () => perRequest(pipe, n),
      window: () => perRequest(window, n),
      hopped: () => perRequest(hopped, n),
    })
    const group = `request through relaykit as Pageant (${o.requests}x, one connection, Wine)`
    const baseline = 'the upstream asked directly (uds-relay)'
    const viaPipe = "relaykit's Pageant pipe (npiperelay)"
    report.add(group, baseline, t.direct, 'ms')
    report.add(group, viaPipe, t.pipe, 'ms', baseline)
    report.add(group, "relaykit's Pageant window (pageant-relay --transport wmcopydata)", t.window, 'ms', baseline)
    report.add(group, "the pipe path plus one node.exe pipe hop (Wine's floor for a hop)", t.hopped, 'ms', viaPipe)
  } finally {
    await stopAll()
    release()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
