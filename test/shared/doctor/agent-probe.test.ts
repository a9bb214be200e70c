import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { AgentMessage, type AgentFrame, makeFrame } from '../../../shared/agent/frames.js'
import { ExitCode } from '../../../shared/exit-codes.js'
import { RelayError } from '../../../shared/relay-error.js'
import { REQUEST_IDENTITIES, countIdentities, probeAgent } from '../../../shared/doctor/agent-probe.js'
import { connectSocket } from '../../../shared/channels/connect-socket.js'
import { shortTempDir } from '../../../lab/temp-dir.js'

/** An IDENTITIES_ANSWER holding `n` made-up identities. */
function identities(n: number): AgentFrame {
  const str = (s: string) => {
    const b = Buffer.alloc(4 + s.length)
    b.writeUInt32BE(s.length)
    b.write(s, 4, 'latin1')
    return b
  }
  const count = Buffer.alloc(4)
  count.writeUInt32BE(n)
  const keys = Array.from({ length: n }, (_, i) => Buffer.concat([str(`blob-${i}`), str(`comment-${i}`)]))
  return makeFrame(AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, Buffer.concat([count, ...keys]))
}

function exitCodeOf(fn: () => unknown): number | undefined {
  try {
    fn()
  } catch (err) {
    return err instanceof RelayError ? err.exitCode : -1
  }
  return undefined
}

t.test('the request is SSH_AGENTC_REQUEST_IDENTITIES', async (t) => {
  t.same([...REQUEST_IDENTITIES.bytes], [0, 0, 0, 1, 11])
})

t.test('countIdentities reads the count of an IDENTITIES_ANSWER', async (t) => {
  t.equal(countIdentities(identities(0)), 0)
  t.equal(countIdentities(identities(1)), 1)
  t.equal(countIdentities(identities(3)), 3)
})

t.test('countIdentities refuses failures and nonsense', async (t) => {
  t.equal(exitCodeOf(() => countIdentities(makeFrame(AgentMessage.SSH_AGENT_FAILURE))), ExitCode.REFUSED, 'FAILURE')
  t.equal(exitCodeOf(() => countIdentities(makeFrame(AgentMessage.SSH_AGENT_SUCCESS))), ExitCode.PROTOCOL, 'another type')
  t.equal(exitCodeOf(() => countIdentities(makeFrame(AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, Buffer.from([0, 0])))), ExitCode.PROTOCOL, 'no room for a count')
  const lying = identities(1)
  lying.bytes.writeUInt32BE(1000, 5)
  t.equal(exitCodeOf(() => countIdentities(lying)), ExitCode.PROTOCOL, 'a count the message cannot hold')
})

/** A Unix socket server; `answer` decides what each connection gets. */
async function server(t: Test, answer: (c: net.Socket) => void): Promise<string> {
  const sock = path.join(shortTempDir(t), 's')
  const srv = net.createServer(answer)
  await new Promise<void>((r) => srv.listen(sock, r))
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())))
  return sock
}

t.test('probeAgent asks once and counts the answer', async (t) => {
  const requests: Buffer[] = []
  const sock = await server(t, (c) =>
    c.on('data', (d: Buffer) => {
      requests.push(d)
      c.write(identities(2).bytes)
    }),
  )
  t.equal(await probeAgent(() => connectSocket({ path: sock }), 2000), 2)
  t.same(requests, [REQUEST_IDENTITIES.bytes])
})

t.test('probeAgent gives up after the timeout when nothing answers', async (t) => {
  const held: net.Socket[] = []
  const sock = await server(t, (c) => held.push(c))
  t.teardown(() => held.forEach((c) => c.destroy()))
  const started = Date.now()
  const err = await probeAgent(() => connectSocket({ path: sock }), 300).catch((e: unknown) => e)
  t.ok(err instanceof RelayError && err.exitCode === ExitCode.TIMEOUT, 'TIMEOUT')
  t.ok(Date.now() - started < 2000, 'promptly')
})

t.test('probeAgent passes a connect error through', async (t) => {
  const err = await probeAgent(() => connectSocket({ path: '/nonexistent/relaykit-doctor' }), 1000).catch((e: unknown) => e)
  t.equal((err as { code?: string }).code, 'ENOENT')
})
