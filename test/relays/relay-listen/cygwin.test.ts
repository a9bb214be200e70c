/**
 * Git for Windows / MSYS2 pairing, on Linux where the handshake is plain TCP:
 * relay-listen serves a Cygwin socket file in front of ssh-agent (the
 * ssh-pageant replacement), and uds-relay reaches the agent through such a
 * file (the client side), both with the built executable.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { startListener } from '../../fixtures/listener.js'
import { AGENT_TOOLS, run, socatListen, sshAdd, startAgent, waitFor } from '../../fixtures/openssh.js'
import { needs } from '../../../lab/prerequisites.js'

t.test('relay-listen --cygwin serves; uds-relay connects through the file', needs(t, [...AGENT_TOOLS, 'socat']), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const file = path.join(dir, 'agent.cygsock')
  const l = await startListener(t, exe, ['-v', '--cygwin', file, '--', 'uds-relay', agent.socket], { socket: file })
  await waitFor(() => l.log().includes('listening'), 'listener')
  t.match(fs.readFileSync(file, 'latin1'), /^!<socket >\d+ s [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}\0$/i)
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'the secret is private')

  const sock = path.join(dir, 'unix.sock')
  await socatListen(t, sock, `${exe} uds-relay ${file}`)
  t.match((await sshAdd(sock, ['-l'])).stdout, agent.fingerprint, 'ssh-add through uds-relay -> Cygwin socket -> relay-listen -> ssh-agent')

  const again = await run(exe, ['relay-listen', '--cygwin', file, '--', 'uds-relay', agent.socket])
  t.equal(again.stderr, '', 'a second listener on a live file exits 0 quietly')

  // Named so that the message cannot match by quoting the file name.
  const garbled = path.join(dir, 'garbled')
  fs.writeFileSync(garbled, '!<socket >nonsense')
  const bad = await run(exe, ['uds-relay', garbled]).catch((e: unknown) => e as { code: number; stderr: string })
  t.equal((bad as { code: number }).code, 5)
  t.match((bad as { stderr: string }).stderr, /garbled is not a Cygwin\/MSYS2 socket file: expected "!<socket >PORT s XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX"/, 'says what the file should hold')
})
