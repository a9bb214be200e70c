/**
 * `-deny add+remove+lock` against the real Pageant 0.78 under Wine: its
 * `add-ppk@putty.projects.tartarus.org` extension adds a key as
 * SSH_AGENTC_ADD_IDENTITY does, so the `add` group must refuse it. The same
 * request without -deny is the control: Pageant takes it and holds one key,
 * so a refusal is the policy's doing, not a request Pageant would reject.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { AGENT_FAILURE_FRAME, AgentMessage, FrameParser, encodeFrame } from '../../../shared/agent/frames.js'
import { startWineRelay } from '../../fixtures/wine-relay.js'
import { agentKeyCount, ensureWineServer, requireLab, startPageant } from '../../../lab/winlab.js'

const M = AgentMessage

/** SSH_AGENTC_EXTENSION "add-ppk@…" string(.ppk file): what `pageant --encrypted KEY.ppk` sends. */
function addPpk(ppk: Buffer): Buffer {
  const name = Buffer.from('add-ppk@putty.projects.tartarus.org')
  const head = Buffer.alloc(4)
  head.writeUInt32BE(name.length)
  const fileLength = Buffer.alloc(4)
  fileLength.writeUInt32BE(ppk.length)
  return encodeFrame(M.SSH_AGENTC_EXTENSION, Buffer.concat([head, name, fileLength, ppk]))
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  const ppk = fs.readFileSync(path.join(lab.keysDir, 'id_ed25519.ppk'))

  t.test('add-ppk through pageant-relay, with and without -deny add+remove+lock', async (t) => {
    const pageant = await startPageant(lab, [], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())

    const denied = startWineRelay(t, lab, ['pageant-relay', '-deny', 'add+remove+lock'])
    denied.child.stdin?.end(addPpk(ppk))
    const d = await denied.done
    t.equal(d.code, 0, d.stderr)
    t.same(d.stdout, AGENT_FAILURE_FRAME, 'answered SSH_AGENT_FAILURE')
    t.match(d.stderr, 'refused SSH_AGENTC_EXTENSION "add-ppk@putty.projects.tartarus.org" (-deny)')
    t.equal(await agentKeyCount(lab, pageant.pipeName), 0, 'Pageant still holds no key')

    const open = startWineRelay(t, lab, ['pageant-relay'])
    open.child.stdin?.end(addPpk(ppk))
    const o = await open.done
    t.equal(o.code, 0, o.stderr)
    t.same(new FrameParser().push(o.stdout).map((f) => f.type), [M.SSH_AGENT_SUCCESS], 'control: Pageant accepts the same request')
    t.equal(await agentKeyCount(lab, pageant.pipeName), 1, 'control: and holds the key')
  })
}
