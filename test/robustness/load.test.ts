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
import { run, startAgent } from '../fixtures/openssh.js'
import { openFds, settledUsage, type Usage, usage } from '../fixtures/proc.js'
import { ensureWineServer, requireLab, startPageant, wineEnv } from '../../lab/winlab.js'

/** Back to baseline or below (a connection open at the baseline may have closed since). */
const noGrowth = (after: Usage, before: Usage) => after.fds <= before.fds && after.children <= before.children

const CLIENTS = 64
const REQUESTS = 200

t.test(`Linux: ${CLIENTS} clients x ${REQUESTS} requests to ssh-agent through relay-listen, every mode`, async (t) => {
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
    const agentFdsAfter = openFds(agentPid)
    t.equal(agentFdsAfter, agentFdsBefore, `${mode}: ssh-agent descriptors back to ${agentFdsBefore}`)
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
    const windowsProcesses = async () => (await run('pgrep', ['-fc', path.basename(win)]).catch(() => ({ stdout: '0' }))).stdout.trim()
    const processesBefore = await windowsProcesses()

    const load = await agentClientLoad(sock, { clients: CLIENTS, requestsPerClient: REQUESTS })
    t.equal(load.failures, 0, `no failed request (${load.errors.slice(0, 3).join('; ')})`)
    t.equal(load.answered, CLIENTS * REQUESTS)
    const after = await settledUsage(pid, before)
    t.ok(noGrowth(after, before), `listener descriptors and children ${JSON.stringify(after)}, baseline ${JSON.stringify(before)}`)
    t.equal(await windowsProcesses(), processesBefore, `still ${processesBefore} Windows relay process(es): one mux for every connection`)
    recordFigures('load', {
      'Pageant (Wine) via relay-listen --mux: requests': load.answered,
      'Pageant (Wine) via relay-listen --mux: failures': load.failures,
      'Pageant (Wine) via relay-listen --mux: leaked fds': Math.max(0, after.fds - before.fds),
      'Pageant (Wine) via relay-listen --mux: leaked processes': Math.max(0, after.children - before.children),
    })
  })
}
