/**
 * Listeners started together over a stale socket (a terminal restoring its
 * tabs after an unclean WSL shutdown): one replaces it, the others find it
 * served. Without the lock each found it stale and removed the socket the
 * one before had just bound.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { listenUnix } from '../../../../shared/channels/unix/server.js'
import { createLog } from '../../../../shared/log.js'
import { needs } from '../../../../lab/prerequisites.js'
import { shortTempDir } from '../../../../lab/temp-dir.js'

const quiet = createLog(new Writable({ write: (_c, _e, cb) => cb() }), 'test', false)

t.test('eight listeners at once over a stale socket: one listens, seven find it served', needs(t, ['python3']), async (t) => {
  const sock = path.join(shortTempDir(t), 'agent.sock')
  spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(sock)})`])
  t.ok(fs.lstatSync(sock).isSocket(), 'a stale socket to begin with')
  let served = 0
  const outcomes = await Promise.all(Array.from({ length: 8 }, () => listenUnix(sock, (c) => (served++, c.end()), quiet)))
  const listening = outcomes.filter((o) => !o.alreadyServed)
  t.equal(listening.length, 1, 'exactly one listener')
  const before = served // the others' liveness probes connected too
  await new Promise<void>((resolve, reject) => net.connect(sock).on('close', () => resolve()).on('error', reject))
  t.equal(served - before, 1, 'and the socket file is the one it serves')
  for (const o of listening) if (!o.alreadyServed) await o.close()
})
