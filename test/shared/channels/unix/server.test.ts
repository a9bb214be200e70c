/**
 * Start-up steps of the Unix listener that no real peer makes fail on
 * demand (removing a stale socket, chmod after bind, looking at the
 * directory, bind itself): each is made to fail here through an injected
 * node:fs or node:net, and each must end at once in a RelayError naming
 * the path and the reason, with nothing left behind. The failures real
 * paths produce are in test/relays/relay-listen/startup.test.ts.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { shortTempDir } from '../../../../lab/temp-dir.js'
import type * as UnixServer from '../../../../shared/channels/unix/server.js'
import { createLog } from '../../../../shared/log.js'

const log = createLog(new PassThrough(), 'test', true)
const fault = (code: string) => Object.assign(new Error(`${code}: injected`), { code })
const MODULE = '../../../../shared/channels/unix/server.js'

async function listenerWith(t: Test, mocks: Record<string, object>) {
  const withDefaults = Object.fromEntries(Object.entries(mocks).map(([name, m]) => [name, { ...m, default: m }]))
  return (await t.mockImport<typeof UnixServer>(MODULE, withDefaults)).unixListener
}

async function endsAtOnce(t: Test, work: Promise<unknown>, message: RegExp) {
  const started = Date.now()
  await t.rejects(work, { message, exitCode: 1 })
  t.ok(Date.now() - started < 1000, `rejected after ${Date.now() - started} ms`)
}

t.test('chmod after bind fails: error, and the socket is removed', async (t) => {
  const sock = path.join(shortTempDir(t), 's')
  const listener = await listenerWith(t, {
    'node:fs': {
      ...fs,
      chmodSync: () => {
        throw fault('EPERM')
      },
    },
  })
  await endsAtOnce(t, listener.listen(sock, () => {}, { log }), /cannot listen on .*\/s: EPERM: operation not permitted/)
  t.notOk(fs.existsSync(sock), 'nothing left behind')
})

t.test('the stale socket cannot be removed: error naming it', async (t) => {
  const sock = path.join(shortTempDir(t), 's')
  const r = spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(sock)})`])
  t.equal(r.status, 0, 'a stale socket made')
  const listener = await listenerWith(t, {
    'node:fs': {
      ...fs,
      rmSync: () => {
        throw fault('EACCES')
      },
    },
  })
  await endsAtOnce(t, listener.listen(sock, () => {}, { log }), /cannot remove the stale socket there \(EACCES: permission denied\)/)
})

t.test('bind fails: error naming the reason', async (t) => {
  const sock = path.join(shortTempDir(t), 's')
  const failingNet = {
    ...net,
    createServer: (...args: Parameters<typeof net.createServer>) => {
      const server = net.createServer(...args)
      server.listen = ((..._: unknown[]) => {
        setImmediate(() => server.emit('error', fault('EROFS')))
        return server
      }) as typeof server.listen
      return server
    },
  }
  const listener = await listenerWith(t, { 'node:net': failingNet })
  await endsAtOnce(t, listener.listen(sock, () => {}, { log }), /cannot listen on .*\/s: EROFS: read-only file system/)
})

t.test('the directory cannot be looked at: error naming it', async (t) => {
  const dir = path.join(shortTempDir(t), 'd')
  const failingFs = {
    ...fs,
    statSync: () => {
      throw fault('EIO')
    },
  }
  const { preparePrivateDirectory } = await t.mockImport<typeof import('../../../../shared/channels/private-directory.js')>(
    '../../../../shared/channels/private-directory.js',
    { 'node:fs': { ...failingFs, default: failingFs } },
  )
  t.throws(() => preparePrivateDirectory(dir, path.join(dir, 's'), log), { message: /cannot listen on .*d\/s: cannot look at .*d \(EIO\)/, exitCode: 1 })
})
