/**
 * npiperelay's logic on Linux, in-process: Go flag compatibility, exit codes,
 * and the libassuan (-a) channel, which is plain TCP on 127.0.0.1. Named
 * pipes themselves are proved under Wine (test/relays/npiperelay/wine.test.ts).
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { normalizePipeName } from '../../../shared/channels/named-pipe/client.js'
import { main } from '../../../relays/npiperelay/main.js'
import { memoryIo } from '../../fixtures/memory-io.js'

t.test('pipe names in both forms', async (t) => {
  t.equal(normalizePipeName('//./pipe/openssh-ssh-agent'), '\\\\.\\pipe\\openssh-ssh-agent')
  t.equal(normalizePipeName('\\\\.\\pipe\\docker_engine'), '\\\\.\\pipe\\docker_engine')
  t.equal(normalizePipeName('C:/Users/me/S.gpg-agent'), 'C:/Users/me/S.gpg-agent')
})

t.test('usage errors exit as npiperelay.exe does', async (t) => {
  const none = memoryIo()
  t.equal(await main([], none.io), 1, 'wrong argument count: usage and exit 1')
  t.match(none.stderr(), /Usage: npiperelay/)
  const two = memoryIo()
  t.equal(await main(['a', 'b'], two.io), 1)
  const unknown = memoryIo()
  t.equal(await main(['-x', 'pipe'], unknown.io), 2, 'unknown flag: exit 2')
  t.match(unknown.stderr(), /flag provided but not defined: -x/)
  const help = memoryIo()
  t.equal(await main(['-h'], help.io), 0)
  for (const flag of ['-p', '-s', '-ep', '-ei', '-bg', '-a', '-v']) t.match(help.stdout().toString(), flag)
  t.equal(help.stderr(), '', 'asked-for help goes to stdout')
})

/** A libassuan-style listener: expects the nonce first, then echoes with a prefix. */
async function assuanServer(t: Test, dir: string) {
  const nonce = Buffer.from('0123456789abcdef')
  const seen: Buffer[] = []
  const server = net.createServer((c) => {
    c.on('data', (d: Buffer) => {
      seen.push(d)
      const all = Buffer.concat(seen)
      if (all.length > nonce.length) c.write(all.subarray(nonce.length))
      seen.length = 0
      seen.push(all.subarray(0, nonce.length))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  const file = path.join(dir, 'S.gpg-agent')
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`${port}\n`), nonce]))
  return { file, nonce, seen }
}

t.test('-a: sends the nonce first, then relays', async (t) => {
  const dir = t.testdir({})
  const srv = await assuanServer(t, dir)
  const m = memoryIo()
  const result = main(['-ei', '-a', srv.file], m.io)
  m.stdin.end('GETINFO version\n')
  t.equal(await result, 0)
  t.equal(m.stdout().toString(), 'GETINFO version\n')
  t.same(srv.seen[0], srv.nonce, 'the nonce arrived first')
})

t.test('-a: malformed and stale socket files give clear errors, exit 1', async (t) => {
  const dir = t.testdir({
    'garbage': 'hello world',
    'short': '1234\nabc',
    'cygwin': '!<socket >1234 s 01234567-89ABCDEF-01234567-89ABCDEF\0',
  })
  const cases: [string, RegExp][] = [
    ['garbage', /not a libassuan socket file: it must start with a TCP port/],
    ['short', /expected a 16-byte nonce after the port, found 3 bytes/],
    ['cygwin', /is a Cygwin\/MSYS2 socket file/],
    ['missing', /no libassuan socket file at .*missing: is gpg-agent running/],
  ]
  for (const [name, re] of cases) {
    const m = memoryIo()
    t.equal(await main(['-a', path.join(dir, name)], m.io), 1, name)
    t.match(m.stderr(), re, name)
  }
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => resolve(p))
    })
  })
  fs.writeFileSync(path.join(dir, 'stale'), Buffer.concat([Buffer.from(`${port}\n`), Buffer.alloc(16)]))
  const m = memoryIo()
  t.equal(await main(['-a', path.join(dir, 'stale')], m.io), 1)
  t.match(m.stderr(), /nobody listens there .*the file is stale; restart gpg-agent/)
})

t.test('-p -a waits for the socket file to appear', async (t) => {
  const dir = t.testdir({})
  const srv = await assuanServer(t, path.join(dir))
  const file = path.join(dir, 'later')
  setTimeout(() => fs.copyFileSync(srv.file, file), 300)
  const m = memoryIo()
  const result = main(['-p', '-ei', '-a', file], m.io)
  setTimeout(() => m.stdin.end('x'), 500)
  t.equal(await result, 0)
  t.equal(m.stdout().toString(), 'x')
})
