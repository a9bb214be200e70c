/**
 * Ansible-style parallel load: 64 clients, each sending 200 requests on its
 * own connection, through relay-listen and a relay to the real ssh-agent
 * (every mode) and, under Wine, to the real Pageant. Zero failed requests;
 * the listener's descriptors and child processes, and the agent's
 * descriptors, back to their baseline afterwards.
 */
import path from 'node:path'
import t from 'tap'
import { agentClientLoad } from '../fixtures/agent-load.js'
import { builtExecutable, isolatedLinuxExecutable } from '../../lab/built.js'
import { recordFigures } from '../../lab/figures.js'
import { startListener } from '../fixtures/listener.js'
import { AGENT_TOOLS, startAgent, waitFor } from '../fixtures/openssh.js'
import { openFds, settledUsage, type Usage, usage } from '../fixtures/proc.js'
import { needs } from '../../lab/prerequisites.js'
import { ensureWineServer, labWineProcesses, requireLab, startPageant, wineEnv } from '../../lab/winlab.js'

/** Back to baseline or below (a connection open at the baseline may have closed since). */
const noGrowth = (after: Usage, before: Usage) => after.fds <= before.fds && after.children <= before.children

const CLIENTS = 64
const REQUESTS = 200

t.test(`Linux: ${CLIENTS} clients x ${REQUESTS} requests to ssh-agent through relay-listen, every mode`, needs(t, AGENT_TOOLS), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const agentPid = agent.process.pid as number
  const modes: Record<string, string[]> = {
    'in-process': [],
    spawn: ['--spawn'],
    'in-process --agent': [],
    mux: ['--mux'],
  }
  for (const [mode, flags] of Object.entries(modes)) {
    const sock = path.join(dir, `${mode.replace(/\W+/g, '-')}.sock`)
    const relay = mode.endsWith('--agent') ? ['uds-relay', '--agent'] : ['uds-relay']
    const command = mode === 'mux' ? [exe, 'mux', ...relay] : [exe, ...relay]
    const listener = await startListener(t, exe, [...flags, '--max-connections', '32', sock, '--', ...command, agent.socket], { socket: sock })
    const pid = listener.pid as number
    // The mux process starts with the first connection: count it in the baseline.
    if (mode === 'mux') await agentClientLoad(sock, { clients: 1, requestsPerClient: 1 })
    const before = usage(pid)
    const agentFdsBefore = openFds(agentPid)

    const load = await agentClientLoad(sock, { clients: CLIENTS, requestsPerClient: REQUESTS })
    t.equal(load.failures, 0, `${mode}: no failed request (${load.errors.slice(0, 3).join('; ')})`)
    t.equal(load.answered, CLIENTS * REQUESTS, `${mode}: ${CLIENTS * REQUESTS} answers`)

    const after = await settledUsage(pid, before)
    t.ok(noGrowth(after, before), `${mode}: listener descriptors and children ${JSON.stringify(after)}, baseline ${JSON.stringify(before)}`)
    // At most the baseline: the warm-up connection may still have been open when it was taken.
    await waitFor(() => openFds(agentPid) <= agentFdsBefore, 'ssh-agent descriptors back to the baseline', 15_000).catch(() => {})
    const agentFdsAfter = openFds(agentPid)
    t.ok(agentFdsAfter <= agentFdsBefore, `${mode}: ssh-agent descriptors ${agentFdsAfter}, baseline ${agentFdsBefore}`)
    recordFigures('load', {
      [`ssh-agent via relay-listen (${mode}): requests`]: load.answered,
      [`ssh-agent via relay-listen (${mode}): failures`]: load.failures,
      [`ssh-agent via relay-listen (${mode}): leaked fds`]: Math.max(0, after.fds - before.fds) + Math.max(0, agentFdsAfter - agentFdsBefore),
      [`ssh-agent via relay-listen (${mode}): leaked processes`]: Math.max(0, after.children - before.children),
    })
  }
})

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  t.test(`Wine: ${CLIENTS} clients x ${REQUESTS} requests to the real Pageant through relay-listen --mux`, async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const exe = isolatedLinuxExecutable(t)
    const win = builtExecutable('win-x64')
    const sock = path.join(path.dirname(exe), 'agent.sock')
    const listener = await startListener(t, exe, [sock, '--mux', '--', lab.wine64, win, 'mux', 'pageant-relay', '--transport', 'pipe'], {
      socket: sock,
      env: wineEnv(lab),
    })
    const pid = listener.pid as number
    await agentClientLoad(sock, { clients: 1, requestsPerClient: 1 })
    const before = usage(pid)
    // This test process's Windows relays (the lab tags everything it starts
    // with its owner's pid), not those of test files running alongside.
    const windowsProcesses = () =>
      labWineProcesses(lab)
        .filter((p) => p.owner === process.pid && p.pid !== pid && p.cmd.includes(path.basename(win)))
        .map((p) => p.pid)
    const processesBefore = windowsProcesses()
    t.equal(processesBefore.length, 1, `one Windows relay process (the mux) before the load: ${processesBefore.join(', ')}`)

    let most = 0
    const sampler = setInterval(() => (most = Math.max(most, windowsProcesses().length)), 250)
    const load = await agentClientLoad(sock, { clients: CLIENTS, requestsPerClient: REQUESTS })
    clearInterval(sampler)
    t.equal(load.failures, 0, `no failed request (${load.errors.slice(0, 3).join('; ')})`)
    t.equal(load.answered, CLIENTS * REQUESTS)
    t.equal(most, 1, 'one Windows relay process throughout the load (sampled every 250 ms): the mux')
    const after = await settledUsage(pid, before)
    t.ok(noGrowth(after, before), `listener descriptors and children ${JSON.stringify(after)}, baseline ${JSON.stringify(before)}`)
    await waitFor(() => windowsProcesses().length <= processesBefore.length, 'Windows relay processes back to the mux alone', 15_000).catch(() => {})
    t.same(windowsProcesses(), processesBefore, 'still that one Windows relay process: one mux for every connection')
    recordFigures('load', {
      'Pageant (Wine) via relay-listen --mux: requests': load.answered,
      'Pageant (Wine) via relay-listen --mux: failures': load.failures,
      'Pageant (Wine) via relay-listen --mux: leaked fds': Math.max(0, after.fds - before.fds),
      'Pageant (Wine) via relay-listen --mux: leaked processes': Math.max(0, after.children - before.children),
    })
  })
}
