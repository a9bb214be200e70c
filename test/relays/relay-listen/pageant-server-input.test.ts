/**
 * What relaykit's Pageant window does with what PuTTY's clients never send
 * (the built .exe under Wine, --no-pipe): the same bad WM_COPYDATA messages
 * go to the real Pageant 0.78 and to relaykit, and relaykit must answer
 * each exactly as Pageant does (refuse: the window returns 0; or answer
 * SSH_AGENT_FAILURE), then keep serving. An upstream that stops answering,
 * or dies in the middle of a request, costs that request a FAILURE within
 * --request-timeout, and the next request works once the upstream is back.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { ensureWineServer, holdPageantAbsent, requireLab, startPageant } from '../../../lab/winlab.js'
import { type ProbeCase, type ProbeResult, probeCopyData } from '../../fixtures/copydata-probe.js'
import { spawnDaemon, sshAdd, waitFor } from '../../fixtures/openssh.js'
import { servePageant, startUpstream, upstreamRelay } from '../../fixtures/pageant-server.js'

const KiB = 1024
const IDENTITIES = [0, 0, 0, 1, 11]
/** SSH_AGENT_FAILURE as the mapping holds it afterwards. */
const FAILURE = '0000000105'

/** The cases both Pageants get. */
const SHARED: ProbeCase[] = [
  { label: 'identities (sanity)', size: 256 * KiB, bytes: IDENTITIES },
  { label: 'length 0', size: 256 * KiB, bytes: [0, 0, 0, 0, 11] },
  { label: 'length 2^32-1', size: 256 * KiB, bytes: [0xff, 0xff, 0xff, 0xff, 11] },
  { label: 'length 256 KiB + 1', size: 256 * KiB, bytes: [0, 4, 0, 1, 11] },
  { label: 'length 8000 in a 4 KiB mapping', size: 4 * KiB, bytes: [0, 0, 0x1f, 0x40, 11] },
  { label: 'mapping with no owner', size: 256 * KiB, bytes: IDENTITIES, owner: 'none' },
  { label: 'mapping owned by SYSTEM', size: 256 * KiB, bytes: IDENTITIES, owner: 'system' },
  { label: 'dwData not AGENT_COPYDATA_ID', size: 256 * KiB, bytes: IDENTITIES, dwData: 0x12345678 },
  { label: 'name without its NUL', size: 256 * KiB, bytes: IDENTITIES, unterminated: true },
  { label: 'identities again', size: 256 * KiB, bytes: IDENTITIES },
]

/** refused, or the type byte of what the mapping holds afterwards. */
function outcome(r: ProbeResult): string {
  if (typeof r.result === 'string') return r.result
  return r.result === 0 ? 'refused' : `answered type ${parseInt(r.head.slice(8, 10), 16)}`
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  t.test('bad WM_COPYDATA input: relaykit answers as the real Pageant 0.78 does, and keeps serving', async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    const real = await probeCopyData(t, lab, SHARED)
    await pageant.stop()

    t.teardown(await holdPageantAbsent(lab, { t, timeoutMs: 600_000 }))
    const up = await startUpstream(t, shortTempDir(t))
    const served = await servePageant(t, lab, ['--no-pipe'], upstreamRelay(up))
    t.teardown(served.kill)
    const ours = await probeCopyData(t, lab, [...SHARED, { label: 'length over 256 KiB in a larger mapping', size: 512 * KiB, bytes: [0, 4, 0, 1, 11] }])

    t.comment(`real Pageant: ${real.map((r) => `${r.label}: ${outcome(r)}`).join('; ')}`)
    t.same(ours.slice(0, SHARED.length).map(outcome), real.map(outcome), 'every case: the same outcome as the real Pageant')
    const by = new Map(ours.map((r) => [r.label, r]))
    t.equal(outcome(by.get('identities (sanity)') as ProbeResult), 'answered type 12', 'a good request is answered')
    for (const label of ['length 0', 'length 2^32-1', 'length 256 KiB + 1', 'length 8000 in a 4 KiB mapping', 'length over 256 KiB in a larger mapping']) {
      t.same([by.get(label)?.result, by.get(label)?.head], [1, FAILURE], `${label}: SSH_AGENT_FAILURE`)
    }
    for (const label of ['mapping with no owner', 'mapping owned by SYSTEM', 'dwData not AGENT_COPYDATA_ID', 'name without its NUL']) {
      t.same([by.get(label)?.result, by.get(label)?.head], [0, '000000010b'], `${label}: refused, the mapping untouched`)
    }
    t.equal(outcome(by.get('identities again') as ProbeResult), 'answered type 12', 'still serving after all that')
    t.match(served.log(), /wrong owning SID of file mapping \(no owner\)/)
    t.match(served.log(), /wrong owning SID of file mapping \(SY\)/)
    t.notMatch(served.log(), /SSH_AGENTC_REQUEST_IDENTITIES \(262141/, 'the oversized request never reached the upstream')
  })

  t.test('upstream frozen, then killed mid-request: SSH_AGENT_FAILURE within --request-timeout; the next request works once it is back', async (t) => {
    t.teardown(await holdPageantAbsent(lab, { t, timeoutMs: 600_000 }))
    const up = await startUpstream(t, shortTempDir(t))
    const served = await servePageant(t, lab, ['--no-pipe', '--request-timeout', '4'], upstreamRelay(up))
    t.teardown(served.kill)
    const ask = () => probeCopyData(t, lab, [{ label: 'identities', size: 256 * KiB, bytes: IDENTITIES }]).then((r) => r[0] as ProbeResult)

    up.agent.process.kill('SIGSTOP')
    let started = Date.now()
    const frozen = await ask()
    const frozenMs = Date.now() - started
    t.same([frozen.result, frozen.head], [1, FAILURE], 'a frozen upstream: SSH_AGENT_FAILURE')
    t.ok(frozenMs >= 4000 && frozenMs < 4000 + 15_000, `after the 4 s timeout, not the window thread's own bound (${frozenMs} ms incl. node.exe start)`)
    t.match(served.log(), /no answer within 4000 ms; answered SSH_AGENT_FAILURE/)

    const pending = ask()
    // node.exe starts in about 0.5 s and the request then waits on the frozen agent; the kill comes well inside the 4 s.
    await new Promise((r) => setTimeout(r, 2000))
    up.agent.process.kill('SIGKILL')
    const killed = await pending
    t.same([killed.result, killed.head], [1, FAILURE], 'the upstream killed mid-request: SSH_AGENT_FAILURE')
    t.equal(served.log().split('no answer within').length - 1, 1, 'that FAILURE came from the connection ending, not from the timeout')

    fs.rmSync(up.agent.socket, { force: true })
    spawnDaemon(t, 'ssh-agent', ['-D', '-a', up.agent.socket])
    await waitFor(() => fs.existsSync(up.agent.socket), 'the new ssh-agent')
    await sshAdd(up.agent.socket, ['-q', up.agent.key])
    const back = await ask()
    t.equal(outcome(back), 'answered type 12', 'the upstream back: the next request is answered')
    t.ok(parseInt(back.head.slice(0, 8), 16) > 5, 'with the key in it')
  })
}
