/**
 * Clients of socket files that name a 127.0.0.1 port (Cygwin, libassuan)
 * do not send the secret to a port another user listens on: a file left by
 * a server that died, its port since bound by someone else. Real second uid
 * (nobody, the test runs as root): a reflector that records what it gets
 * and echoes it, which passes the Cygwin handshake without knowing the
 * secret. The built uds-relay must refuse (exit 4, naming the uid) and the
 * reflector must get nothing; the same reflector run as root is the control.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { builtExecutable } from '../../lab/built.js'
import { AgentMessage, encodeFrame } from '../../shared/agent/frames.js'
import { formatCygwinSocketFile } from '../../shared/channels/cygwin/format.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { waitFor, freePort, portListening } from '../fixtures/openssh.js'

const NOBODY = 65534
const root = process.platform === 'linux' && process.getuid?.() === 0

function sharedDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-port-'))
  fs.chmodSync(dir, 0o777)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** socat as `uid` on `port`: every connection's bytes are appended to `got` and echoed. */
async function reflector(t: Test, uid: number, port: number, got: string): Promise<ChildProcess> {
  fs.writeFileSync(got, '')
  fs.chownSync(got, uid, uid)
  const child = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `EXEC:tee -a ${got}`], { uid, gid: uid, stdio: 'ignore' })
  t.teardown(() => void child.kill())
  await waitFor(() => portListening(port), 'the reflector')
  return child
}

const files: Record<string, (port: number) => Buffer> = {
  Cygwin: (port) => formatCygwinSocketFile(port, randomBytes(16)),
  libassuan: (port) => Buffer.concat([Buffer.from(`${port}\n`), randomBytes(16)]),
}

t.test('a stale socket file whose port another uid listens on: refused, nothing sent', { skip: !root && 'needs root to start a second uid' }, async (t) => {
  for (const [kind, make] of Object.entries(files)) {
    for (const uid of [NOBODY, 0]) {
      const dir = sharedDir(t)
      const port = await freePort()
      const file = path.join(dir, 'agent.sock')
      fs.writeFileSync(file, make(port), { mode: 0o600 })
      const got = path.join(dir, 'got')
      const child = await reflector(t, uid, port, got)
      const r = spawnSync(builtExecutable('linux-x64'), ['uds-relay', file], {
        input: encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES),
        encoding: 'latin1',
        timeout: 20_000,
      })
      if (uid === NOBODY) {
        t.equal(r.status, ExitCode.REFUSED, `${kind}, port of nobody: exit 4 (${r.stderr.trim()})`)
        t.match(r.stderr, new RegExp(`names 127\\.0\\.0\\.1 port ${port}, where a listener of uid ${NOBODY} \\(nobody\\) waits, not yours`))
        t.equal(fs.readFileSync(got).length, 0, `${kind}: the reflector got nothing`)
      } else {
        await waitFor(() => fs.readFileSync(got).length > 0, 'the control reflector to be sent something', 5000)
        t.pass(`${kind}, control: root's reflector is sent the secret (${fs.readFileSync(got).length} bytes)`)
      }
      child.kill()
    }
  }
})
