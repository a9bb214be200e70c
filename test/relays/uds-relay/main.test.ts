import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { main } from '../../../relays/uds-relay/main.js'
import { memoryIo } from '../../fixtures/memory-io.js'
import { shortTempDir } from '../../../lab/temp-dir.js'

/** A Unix socket server that answers "<data>" with "echo:<data>" once the client half-closes. */
function echoAfterEof(socketPath: string): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    const got: Buffer[] = []
    c.on('data', (d: Buffer) => got.push(d))
    c.on('end', () => c.end(Buffer.concat([Buffer.from('echo:'), ...got])))
  })
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)))
}

t.test('half-close: the answer sent after our EOF reaches stdout', async (t) => {
  const sock = path.join(shortTempDir(t), 's')
  const server = await echoAfterEof(sock)
  t.teardown(() => server.close())
  const m = memoryIo()
  const result = main([sock], m.io)
  m.stdin.end('hello')
  t.equal(await result, 0)
  t.equal(m.stdout().toString(), 'echo:hello')
})

t.test('-p waits for the socket to appear', async (t) => {
  const sock = path.join(shortTempDir(t), 's')
  const m = memoryIo()
  const result = main(['-p', '-v', sock], m.io)
  let server: net.Server | undefined
  setTimeout(() => void echoAfterEof(sock).then((s) => (server = s)), 400)
  t.teardown(() => server?.close())
  setTimeout(() => m.stdin.end('late'), 600)
  t.equal(await result, 0)
  t.equal(m.stdout().toString(), 'echo:late')
  t.match(m.stderr(), /waiting for .*\/s/)
})

t.test('missing socket: exit 3 and a sentence that names the fix', async (t) => {
  const m = memoryIo()
  t.equal(await main(['/nonexistent/agent.sock'], m.io), 3)
  t.match(m.stderr(), /no socket at \/nonexistent\/agent.sock: is the agent running/)
  t.equal(m.stdout().length, 0, 'stdout carries data only')
})

t.test('usage: wrong argument count is exit 2 on stderr; -h and --version are exit 0 on stdout', async (t) => {
  const a = memoryIo()
  t.equal(await main([], a.io), 2)
  t.match(a.stderr(), /expected 1 argument/)
  t.match(a.stderr(), /Usage: uds-relay/)
  t.equal(a.stdout().length, 0, 'a usage error leaves stdout alone')
  const h = memoryIo()
  t.equal(await main(['-h'], h.io), 0)
  t.match(h.stdout().toString(), /Usage: uds-relay/)
  t.match(h.stdout().toString(), /Exit codes:/)
  t.equal(h.stderr(), '')
  const v = memoryIo()
  t.equal(await main(['--version'], v.io), 0)
  t.match(v.stdout().toString(), /^uds-relay \(relaykit\) \d+\.\d+\.\d+\n$/)
  t.equal(v.stderr(), '')
})
