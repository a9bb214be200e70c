/**
 * --cygwin-variant on Linux, with the built executable: a Cygwin socket file
 * whose server speaks the other credential exchange than the one uds-relay
 * speaks fails with a message naming the flag and value that fix it, and
 * that flag then reaches the agent. Off Windows the guess is always cygwin,
 * so the libassuan-side mistake is made with the flag itself. Under Wine,
 * where the guess comes from the SYSTEM attribute: wine.test.ts.
 */
import path from 'node:path'
import t from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { AgentMessage, FrameParser, encodeFrame } from '../../../shared/agent/frames.js'
import { ExitCode } from '../../../shared/exit-codes.js'
import { cygwinVariantAgent, libassuanVariantAgent } from '../../fixtures/cygwin-agents.js'
import { startAgent } from '../../fixtures/openssh.js'
import { startRelay } from '../../fixtures/relay-process.js'

/** `uds-relay -ei ARGS` with one REQUEST_IDENTITIES on stdin. */
async function askIdentities(exe: string, args: string[]) {
  const r = startRelay(exe, ['uds-relay', '-ei', ...args])
  r.child.stdin.end(encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES))
  const done = await r.done
  const [answer] = new FrameParser().push(done.stdout)
  return { ...done, answerType: answer?.type, keys: answer?.bytes.readUInt32BE(5) }
}

t.test('a libassuan-variant server, guessed cygwin: the hint names --cygwin-variant libassuan, which works', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const file = await libassuanVariantAgent(t, dir, agent.socket)

  const wrong = await askIdentities(exe, [file])
  t.not(wrong.code, ExitCode.OK, 'the wrong variant fails')
  t.match(wrong.stderr, /as libassuan \(gpg-agent\) does: use --cygwin-variant libassuan \(cygwin is the guess off Windows\)/)
  t.equal(wrong.stdout.length, 0, 'nothing reached stdout')

  const right = await askIdentities(exe, ['--cygwin-variant', 'libassuan', file])
  t.equal(right.code, ExitCode.OK, right.stderr)
  t.equal(right.answerType, AgentMessage.SSH_AGENT_IDENTITIES_ANSWER)
  t.equal(right.keys, 1, "the agent's key, through the libassuan handshake")
})

t.test('a Cygwin server, told libassuan: the hint names --cygwin-variant cygwin, which works', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const file = await cygwinVariantAgent(t, exe, dir, agent.socket)

  const wrong = await askIdentities(exe, ['-cygwin-variant=libassuan', file])
  t.equal(wrong.code, ExitCode.TIMEOUT, 'Cygwin waits for 4 more credential bytes: our timeout ends it')
  t.match(wrong.stderr, /may be waiting for Cygwin's 12-byte credentials: use --cygwin-variant cygwin\n/)

  for (const args of [['--cygwin-variant', 'cygwin'], ['--cygwin-variant=auto'], []]) {
    const right = await askIdentities(exe, [...args, file])
    t.equal(right.code, ExitCode.OK, right.stderr)
    t.equal(right.keys, 1, `the agent's key with ${args.join(' ') || 'no flag'}`)
  }
})

t.test('--cygwin-variant takes auto, cygwin or libassuan', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const bad = await askIdentities(exe, ['--cygwin-variant', 'msys', '/nonexistent'])
  t.equal(bad.code, ExitCode.USAGE)
  t.match(bad.stderr, /-cygwin-variant: "msys" is not auto, cygwin or libassuan/)
  const help = startRelay(exe, ['uds-relay', '-h'])
  const h = await help.done
  t.match(h.stdout.toString() + h.stderr, /-cygwin-variant auto\|cygwin\|libassuan/)
})
