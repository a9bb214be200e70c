/**
 * uds-relay.exe (the built Windows executable, under Wine) reaching a real
 * ssh-agent through a Cygwin socket file, where the credential variant is
 * guessed from the file's SYSTEM attribute: a file that lost the attribute
 * (made on Linux here, as a copied or synced file would be) or that has it
 * without being Cygwin's is guessed wrong. The hint names the flag, and the
 * flag gets through.
 */
import path from 'node:path'
import t, { type Test } from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { ensureWineServer, requireLab, runWine, winPath } from '../../../lab/winlab.js'
import { AgentMessage, FrameParser, encodeFrame } from '../../../shared/agent/frames.js'
import { ExitCode } from '../../../shared/exit-codes.js'
import { cygwinVariantAgent, libassuanVariantAgent } from '../../fixtures/cygwin-agents.js'
import { startAgent } from '../../fixtures/openssh.js'
import { startWineRelay } from '../../fixtures/wine-relay.js'

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  /** `relaykit-win-x64.exe uds-relay -ei ARGS FILE` with one REQUEST_IDENTITIES on stdin (piped, as socat runs it). */
  const askIdentities = async (t: Test, args: string[], file: string) => {
    const r = startWineRelay(t, lab, ['uds-relay', '-ei', ...args, winPath(file)])
    r.child.stdin?.end(encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES))
    const done = await r.done
    const [answer] = new FrameParser().push(done.stdout)
    return { ...done, answerType: answer?.type, keys: answer?.bytes.readUInt32BE(5) }
  }

  t.test('a Cygwin server whose file lacks SYSTEM: guessed libassuan, the hint names --cygwin-variant cygwin, which works', async (t) => {
    const exe = isolatedLinuxExecutable(t)
    const dir = path.dirname(exe)
    const agent = await startAgent(t, dir)
    const file = await cygwinVariantAgent(t, exe, dir, agent.socket)

    const wrong = await askIdentities(t, [], file)
    t.equal(wrong.code, ExitCode.TIMEOUT, 'Cygwin waits for the 4 credential bytes libassuan does not send')
    t.match(wrong.stderr, /use --cygwin-variant cygwin \(libassuan was guessed: the file lacks the SYSTEM attribute Cygwin sets\)/)
    t.equal(wrong.stdout.length, 0, 'nothing reached stdout')

    const right = await askIdentities(t, ['--cygwin-variant', 'cygwin'], file)
    t.equal(right.code, ExitCode.OK, right.stderr)
    t.equal(right.answerType, AgentMessage.SSH_AGENT_IDENTITIES_ANSWER)
    t.equal(right.keys, 1, "the agent's key, through Cygwin's handshake")
  })

  t.test('a libassuan server whose file has SYSTEM: guessed cygwin, the hint names --cygwin-variant libassuan, which works', async (t) => {
    const dir = shortTempDir(t)
    const agent = await startAgent(t, dir)
    const file = await libassuanVariantAgent(t, dir, agent.socket)
    const attrib = await runWine(lab, 'cmd', ['/c', 'attrib', '+s', winPath(file)], { t })
    t.equal(attrib.code, 0, `attrib +s: ${attrib.stdout}${attrib.stderr}`)

    const wrong = await askIdentities(t, [], file)
    t.not(wrong.code, ExitCode.OK, 'the wrong variant fails')
    t.match(wrong.stderr, /as libassuan \(gpg-agent\) does: use --cygwin-variant libassuan \(cygwin was guessed from the file's SYSTEM attribute\)/)

    const right = await askIdentities(t, ['-cygwin-variant=libassuan'], file)
    t.equal(right.code, ExitCode.OK, right.stderr)
    t.equal(right.answerType, AgentMessage.SSH_AGENT_IDENTITIES_ANSWER)
    t.equal(right.keys, 1, "the agent's key, through libassuan's handshake")
  })
}
