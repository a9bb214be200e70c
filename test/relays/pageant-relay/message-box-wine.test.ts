/**
 * The Windows way of asking (no --askpass): pageant-relay.exe under Wine
 * with --confirm sign puts a message box up before Pageant signs. Wine runs
 * without a screen here, so the box's text comes from Wine's msgbox trace
 * and the user is played by a Windows program (built here with mingw) that
 * finds the box by its title and presses Yes or No.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { AgentMessage, FrameParser, encodeFrame } from '../../../shared/agent/frames.js'
import { wireString, wireUint32 } from '../../../shared/agent/wire-reader.js'
import { repoRoot } from '../../../lab/built.js'
import { needs } from '../../../lab/prerequisites.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { ensureWineServer, requireLab, runWine, startPageant } from '../../../lab/winlab.js'
import { run } from '../../fixtures/openssh.js'
import { startWineRelay } from '../../fixtures/wine-relay.js'

const TITLE = 'relaykit: allow a signature?'

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  t.test('--confirm sign on Windows: a message box naming the key; yes signs, no and no answer refuse', needs(t, ['x86_64-w64-mingw32-gcc', 'ssh-keygen']), async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const dir = shortTempDir(t)
    const clicker = path.join(dir, 'click.exe')
    execFileSync('x86_64-w64-mingw32-gcc', ['-O2', '-o', clicker, path.join(repoRoot, 'test', 'fixtures', 'click-message-box.c')])
    const pub = path.join(lab.keysDir, 'id_ed25519.pub')
    const blob = Buffer.from(fs.readFileSync(pub, 'utf8').split(' ')[1] as string, 'base64')
    const fp = (await run('ssh-keygen', ['-l', '-f', pub])).stdout.split(' ')[1] as string
    const signRequest = encodeFrame(AgentMessage.SSH_AGENTC_SIGN_REQUEST, Buffer.concat([wireString(blob), wireString('data'), wireUint32(0)]))

    /** One signature through a fresh relay; `user` answers the box (or not). Resolves to the answer's type and the relay's stderr. */
    const signWith = async (user: 'yes' | 'no' | 'none') => {
      const r = startWineRelay(t, lab, ['pageant-relay', '-v', '--transport', 'pipe', '--confirm', 'sign', '--confirm-timeout', '3'], {
        env: { WINEDEBUG: `${lab.winedebug},+msgbox` },
      })
      let stderr = ''
      r.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
      const parser = new FrameParser()
      const answer = new Promise<number>((resolve) => r.child.stdout?.on('data', (d: Buffer) => parser.push(d).forEach((f) => resolve(f.type))))
      r.child.stdin?.write(signRequest)
      if (user !== 'none') {
        const click = await runWine(lab, clicker, [TITLE, user], { t, timeoutMs: 60_000 })
        t.equal(click.code, 0, `the ${user} button was found and pressed`)
      }
      const type = await answer
      // Still running: a box left behind would be found now.
      const leftover = await runWine(lab, clicker, [TITLE, 'no', '500'], { t, timeoutMs: 60_000 })
      r.child.stdin?.end()
      await r.done
      return { type, stderr, boxLeft: leftover.code === 0 }
    }

    const yes = await signWith('yes')
    t.equal(yes.type, AgentMessage.SSH_AGENT_SIGN_RESPONSE, 'yes: Pageant signs')
    t.match(yes.stderr, `trace:msgbox:MSGBOX_OnInit L"Allow use of key relaykit-lab?\\nKey fingerprint ${fp}."`, 'the box names the key by its comment and fingerprint')
    t.notOk(yes.boxLeft, 'no box left behind')
    const no = await signWith('no')
    t.equal(no.type, AgentMessage.SSH_AGENT_FAILURE, 'no: refused')
    t.match(no.stderr, /refused a signature with key SHA256:\S+: the user said no/)
    const none = await signWith('none')
    t.equal(none.type, AgentMessage.SSH_AGENT_FAILURE, 'no answer: refused')
    t.match(none.stderr, /refused a signature with key SHA256:\S+: no answer within 3 s/)
    t.notOk(none.boxLeft, 'the unanswered box closed itself')
  })
}
