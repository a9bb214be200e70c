/**
 * "Already served" only counts when this user serves it. A second uid
 * (nobody, started by the test, which runs as root) really listens first:
 * on a Unix socket in a shared 1777 folder, and on the 127.0.0.1 port a
 * Cygwin socket file names, with a reflector that echoes whatever it gets
 * and so passes the secret handshake without knowing the secret. The built
 * relay-listen must refuse (exit 4) naming that user, in the foreground and
 * with --background; the same peers run as root are the control (exit 0:
 * the address is ours and served).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { builtExecutable } from '../../../lab/built.js'
import { formatCygwinSocketFile } from '../../../shared/channels/cygwin/format.js'
import { ExitCode } from '../../../shared/exit-codes.js'
import { waitFor, freePort, portListening } from '../../fixtures/openssh.js'

const NOBODY = 65534
const root = process.platform === 'linux' && process.getuid?.() === 0

function relayListen(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(builtExecutable('linux-x64'), ['relay-listen', ...args, '--', 'cat'], { encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, stderr: r.stderr }
}

/** socat as `uid`, stopped when the test ends. */
function socatAs(t: Test, uid: number, args: string[]): ChildProcess {
  const child = spawn('socat', args, { uid, gid: uid, stdio: 'ignore' })
  t.teardown(() => void child.kill())
  return child
}

/** A folder like /tmp: everyone may create files, only their owners remove them. */
function stickyDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-owner-'))
  fs.chmodSync(dir, 0o1777)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const refusal = (what: RegExp) =>
  new RegExp(`is already served, by ${what.source} of uid ${NOBODY} \\(nobody\\), not by you \\(uid 0 \\(root\\)\\)`)

t.test('a Unix socket another uid listens on in a shared folder is refused', { skip: !root && 'needs root to start a second uid' }, async (t) => {
  for (const [uid, expected] of [[NOBODY, ExitCode.REFUSED], [0, ExitCode.OK]] as const) {
    const sock = path.join(stickyDir(t), 'agent.sock')
    const squatter = socatAs(t, uid, [`UNIX-LISTEN:${sock},fork,mode=666`, 'EXEC:cat'])
    await waitFor(() => fs.existsSync(sock), 'the socket')
    t.equal(fs.statSync(sock).uid, uid, `uid ${uid} owns the socket`)
    for (const flags of [['-v'], ['--background']]) {
      const r = relayListen([...flags, sock])
      t.equal(r.code, expected, `listener of uid ${uid}, ${flags.join(' ')}: exit ${expected}`)
      if (expected === ExitCode.REFUSED) t.match(r.stderr, refusal(/a listener/))
      else t.notMatch(r.stderr, /not by you/)
    }
    squatter.kill()
  }
})

t.test('--cygwin: a port another uid listens on, and a file another uid owns, are refused', { skip: !root && 'needs root to start a second uid' }, async (t) => {
  for (const [uid, expected] of [[NOBODY, ExitCode.REFUSED], [0, ExitCode.OK]] as const) {
    const file = path.join(stickyDir(t), 'agent.cyg')
    const port = await freePort()
    // Our own file, left by a listener that died; its port since taken by a reflector.
    fs.writeFileSync(file, formatCygwinSocketFile(port, randomBytes(16)), { mode: 0o600 })
    socatAs(t, uid, [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, 'EXEC:cat'])
    await waitFor(() => portListening(port), 'the reflector')
    for (const flags of [['-v'], ['--background']]) {
      const r = relayListen([...flags, '--cygwin', file])
      t.equal(r.code, expected, `reflector of uid ${uid}, ${flags.join(' ')}: exit ${expected}`)
      if (expected === ExitCode.REFUSED) t.match(r.stderr, refusal(new RegExp(`a listener on 127\\.0\\.0\\.1 port ${port}`)))
    }
  }

  const dir = stickyDir(t)
  const file = path.join(dir, 'theirs.cyg')
  const port = await freePort()
  spawnSync('sh', ['-c', `cat > '${file}'`], { uid: NOBODY, gid: NOBODY, input: formatCygwinSocketFile(port, randomBytes(16)) })
  t.equal(fs.statSync(file).uid, NOBODY, 'nobody wrote a socket file')
  const r = relayListen(['--cygwin', file])
  t.equal(r.code, ExitCode.REFUSED, 'a socket file of another uid: exit 4')
  t.match(r.stderr, refusal(/a socket file/))
})
