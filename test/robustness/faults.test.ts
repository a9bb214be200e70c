/**
 * Fault injection with real peers (the built executable, a real ssh-agent):
 * the agent killed in the middle of a request, the client leaving in the
 * middle of an answer, stdout closed early. Every case ends promptly with
 * the documented exit code and leaves nothing running. (Pageant killed
 * mid-session under Wine: test/relays/pageant-relay/wine.test.ts.)
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { AgentMessage, FrameParser, encodeFrame } from '../../shared/agent/frames.js'
import { isolatedLinuxExecutable } from '../../lab/built.js'
import { recordFigures } from '../../lab/figures.js'
import { startListener } from '../fixtures/listener.js'
import { AGENT_TOOLS, type Agent, run, sshAdd, startAgent, waitFor } from '../fixtures/openssh.js'
import { settledUsage, usage } from '../fixtures/proc.js'
import { startRelay } from '../fixtures/relay-process.js'
import { needs } from '../../lab/prerequisites.js'

const identities = encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)
const AGENT = needs(t, AGENT_TOOLS)

/**
 * What "at once" and "promptly" mean in the titles: a liveness bound, far
 * above the few milliseconds these take, that only a relay waiting for
 * something (a timeout, stdin EOF) would exceed. Not a performance figure.
 */
const PROMPT_MS = 2000

/** A fault case: counted as injected, and as survived if every assertion held. */
function fault(name: string, body: (t: Test) => Promise<void>) {
  t.test(name, AGENT, async (t) => {
    await body(t)
    recordFigures('faults', { injected: 1, survived: t.passing() ? 1 : 0 })
  })
}

/** Freeze the agent so a request is in flight, then kill it. */
async function killMidRequest(agent: Agent, sendRequest: () => void): Promise<number> {
  agent.process.kill('SIGSTOP')
  sendRequest()
  await new Promise((r) => setTimeout(r, 300))
  agent.process.kill('SIGKILL')
  return Date.now()
}

/** An agent whose identities answer is about 40 KiB (20 keys with long comments). */
async function bigAgent(t: Test, dir: string): Promise<Agent> {
  const agent = await startAgent(t, dir)
  const keys: string[] = []
  for (let i = 0; i < 20; i++) {
    const key = path.join(dir, `k${i}`)
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `k${i}-${'c'.repeat(2000)}`, '-f', key])
    keys.push(key)
  }
  await sshAdd(agent.socket, ['-q', ...keys])
  return agent
}

fault(`byte mode, ssh-agent killed mid-request: the client gets EOF within ${PROMPT_MS} ms although its stdin stays open, exit 0`, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const agent = await startAgent(t, path.dirname(exe))
  const relay = startRelay(exe, ['uds-relay', agent.socket])
  const parser = new FrameParser()
  const answers: number[] = []
  let eofAt = 0
  relay.child.stdout.on('data', (d: Buffer) => answers.push(...parser.push(d).map((f) => f.type)))
  relay.child.stdout.once('end', () => (eofAt = Date.now()))
  // One request answered first: the relay is connected and relaying.
  relay.child.stdin.write(identities)
  await waitFor(() => answers.length === 1, 'the first answer')
  const killedAt = await killMidRequest(agent, () => relay.child.stdin.write(identities))
  const { code } = await relay.done
  t.equal(code, 0, 'the session ended normally: the agent closed it')
  t.same(answers, [AgentMessage.SSH_AGENT_IDENTITIES_ANSWER], 'the answer from before the kill, and nothing after it')
  t.equal(parser.buffered, 0, 'no half answer')
  t.ok(eofAt > 0 && eofAt - killedAt < PROMPT_MS, `EOF ${eofAt - killedAt} ms after the kill (stdin never ended)`)
})

fault('agent mode, ssh-agent killed mid-request: FAILURE for it and for the next, exit 3 at EOF', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const agent = await startAgent(t, path.dirname(exe))
  const relay = startRelay(exe, ['uds-relay', '--agent', agent.socket])
  relay.child.stdin.write(identities)
  const parser = new FrameParser()
  const answers: number[] = []
  relay.child.stdout.on('data', (d: Buffer) => answers.push(...parser.push(d).map((f) => f.type)))
  await waitFor(() => answers.length === 1, 'the first answer')
  await killMidRequest(agent, () => relay.child.stdin.write(identities))
  await waitFor(() => answers.length === 2, 'an answer to the request in flight')
  relay.child.stdin.end(identities)
  const { code, stderr } = await relay.done
  t.same(answers, [AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, AgentMessage.SSH_AGENT_FAILURE, AgentMessage.SSH_AGENT_FAILURE])
  t.equal(code, 3, 'the agent became unreachable: exit 3')
  // The request in flight is sent once more on a new connection, which finds the socket dead.
  t.equal(stderr.match(/SSH_AGENTC_REQUEST_IDENTITIES failed, answering SSH_AGENT_FAILURE: nobody is listening on \S+: it is a stale socket/g)?.length, 2, 'each failure says why')
})

fault(`relay-listen, ssh-agent killed mid-request and restarted: the client gets EOF within ${PROMPT_MS} ms, the next connection works`, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'listen.sock')
  const link = path.join(dir, 'agent-link.sock')
  fs.symlinkSync(agent.socket, link)
  const listener = await startListener(t, exe, [sock, '--', 'uds-relay', link], { socket: sock })
  const client = net.connect(sock)
  const closed = new Promise<Buffer>((resolve) => {
    const got: Buffer[] = []
    client.on('data', (d: Buffer) => got.push(d))
    client.on('close', () => resolve(Buffer.concat(got)))
  })
  await new Promise((r) => client.once('connect', r))
  const killedAt = await killMidRequest(agent, () => client.write(identities))
  t.equal((await closed).length, 0, 'the client saw EOF, not a half answer')
  t.ok(Date.now() - killedAt < PROMPT_MS, `EOF ${Date.now() - killedAt} ms after the kill`)
  const again = await startAgent(t, fs.mkdtempSync(path.join(dir, 'b')))
  fs.rmSync(link)
  fs.symlinkSync(again.socket, link)
  t.match((await sshAdd(sock, ['-l'])).stdout, again.fingerprint, 'the listener serves the restarted agent')
  t.equal(listener.exitCode, null, 'the listener is still running')
})

fault('the client leaves in the middle of a 4 MiB answer stream: the relay exits 0, nothing left running', async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await bigAgent(t, dir)
  const modes: Record<string, string[]> = {
    'in-process': [exe, 'uds-relay'],
    'in-process --agent': [exe, 'uds-relay', '--agent'],
    spawn: ['--spawn', '--', exe, 'uds-relay'],
  }
  for (const [mode, command] of Object.entries(modes)) {
    const sock = path.join(dir, `${mode.replace(/\W+/g, '-')}.sock`)
    const [flags, relay] = command[0] === '--spawn' ? [['--spawn'], command.slice(2)] : [[], command]
    // -v: the listener logs each relay's exit code ("uds-relay ended with exit code N", "child PID exited (N)").
    const listener = await startListener(t, exe, ['-v', ...flags, sock, '--', ...relay, agent.socket], { socket: sock })
    const pid = listener.pid as number
    const baseline = usage(pid)
    let answerBytes = 0
    for (let round = 0; round < 5; round++) {
      await new Promise<void>((resolve) => {
        const c = net.connect(sock, () => c.write(Buffer.concat(Array.from({ length: 100 }, () => identities))))
        c.once('data', (d: Buffer) => {
          answerBytes += d.length
          c.destroy()
        })
        c.on('close', () => resolve())
      })
    }
    t.ok(answerBytes > 0 && answerBytes < 100 * 40_000, `${mode}: each client left after ${answerBytes / 5} of about 4 MiB`)
    const exitCodes = () => [...listener.log().matchAll(/uds-relay ended with exit code (\d+)|child \d+ exited \((\w+)\)/g)].map((m) => m[1] ?? m[2])
    await waitFor(() => exitCodes().length >= 5, 'the five relays to end').catch(() => {})
    // spawn: once its client is gone, the child's stdout is closed too, so a
    // child blocked writing an answer gets EPIPE and exits 0 instead of
    // waiting for the SIGTERM after the grace.
    t.same(exitCodes(), ['0', '0', '0', '0', '0'], `${mode}: each of the five relays exited 0`)
    const after = await settledUsage(pid, baseline)
    t.ok(after.fds <= baseline.fds && after.children <= baseline.children, `${mode}: descriptors and child processes ${JSON.stringify(after)}, baseline ${JSON.stringify(baseline)}`)
    t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint, `${mode}: the listener still serves`)
  }
})

fault(`stdout closed by the reader (EPIPE) in the middle of answers: exit 0 within ${PROMPT_MS} ms, stdin still open`, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const agent = await bigAgent(t, path.dirname(exe))
  for (const args of [['uds-relay'], ['uds-relay', '--agent']]) {
    const relay = startRelay(exe, [...args, agent.socket])
    relay.child.stdin.write(Buffer.concat(Array.from({ length: 100 }, () => identities)))
    await new Promise((r) => relay.child.stdout.once('data', r))
    relay.child.stdout.destroy()
    const closedAt = Date.now()
    const { code, stderr, exitedAt } = await relay.done
    t.equal(code, 0, `${args.join(' ')}: exit 0`)
    t.ok(exitedAt - closedAt < PROMPT_MS, `${args.join(' ')}: exited ${exitedAt - closedAt} ms after its stdout was closed`)
    t.notMatch(stderr, /failed/, `${args.join(' ')}: a client leaving is not an error`)
  }
})
