import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { AgentStreamClient } from '../../../shared/agent/client.js'
import { AgentMessage, FrameParser, encodeFrame, makeFrame } from '../../../shared/agent/frames.js'
import { shortTempDir } from '../../../lab/temp-dir.js'

const request = makeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)
const answer = encodeFrame(AgentMessage.SSH_AGENT_SUCCESS)

/** A fake agent; `behave` decides what each connection does with each request. */
function fakeAgent(socket: string, behave: (c: net.Socket, n: number) => void) {
  let connections = 0
  const server = net.createServer((c) => {
    const id = connections++
    const parser = new FrameParser()
    c.on('data', (d: Buffer) => parser.push(d).forEach(() => behave(c, id)))
    c.on('error', () => {})
  })
  return new Promise<{ server: net.Server; count: () => number }>((resolve) =>
    server.listen(socket, () => resolve({ server, count: () => connections })),
  )
}

const connect = (socket: string) => () =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(socket, () => resolve(s))
    s.once('error', reject)
  })

t.test('one connection serves many requests', async (t) => {
  const sock = path.join(shortTempDir(t), 'a')
  const agent = await fakeAgent(sock, (c) => c.write(answer))
  t.teardown(() => agent.server.close())
  const client = new AgentStreamClient(connect(sock), { timeoutMs: 5000 })
  for (let i = 0; i < 3; i++) t.same((await client.query(request)).bytes, answer)
  t.equal(agent.count(), 1)
  client.close()
})

t.test('a connection the agent dropped since the last answer is replaced, and the request resent', async (t) => {
  const sock = path.join(shortTempDir(t), 'a')
  let served = 0
  const agent = await fakeAgent(sock, (c) => {
    c.write(answer)
    if (++served === 1) c.destroy() // restarted agent: the first connection dies after answering
  })
  t.teardown(() => agent.server.close())
  const client = new AgentStreamClient(connect(sock), { timeoutMs: 5000 })
  t.same((await client.query(request)).bytes, answer)
  await new Promise((r) => setTimeout(r, 50))
  t.same((await client.query(request)).bytes, answer)
  t.equal(agent.count(), 2)
  client.close()
})

t.test('no answer within the timeout: TIMEOUT, not retried', async (t) => {
  const sock = path.join(shortTempDir(t), 'a')
  const agent = await fakeAgent(sock, () => {})
  t.teardown(() => agent.server.close())
  const client = new AgentStreamClient(connect(sock), { timeoutMs: 200 })
  await t.rejects(client.query(request), { exitCode: 6, message: /did not answer within 200 ms/ })
  t.equal(agent.count(), 1)
  client.close()
})

t.test('a malformed answer is a protocol error', async (t) => {
  const sock = path.join(shortTempDir(t), 'a')
  const agent = await fakeAgent(sock, (c) => c.write(Buffer.from([0xff, 0xff, 0xff, 0xff])))
  t.teardown(() => agent.server.close())
  const client = new AgentStreamClient(connect(sock), { timeoutMs: 5000 })
  await t.rejects(client.query(request), { exitCode: 5, message: /malformed answer/ })
  client.close()
})

t.test('no agent: the connect error comes through', async (t) => {
  const client = new AgentStreamClient(connect('/nonexistent/agent.sock'), { timeoutMs: 5000 })
  await t.rejects(client.query(request), { code: 'ENOENT' })
})
