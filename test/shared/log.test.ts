/**
 * `--logfile`: on POSIX never through a symbolic link, never into another
 * user's file, and private (0600) whether it is new or not. The link and the
 * foreign file are made by a second uid (nobody) where the test runs as root,
 * as another local user would make them. On Windows, only which owners are
 * accepted is checked here; the DACL is read back under Wine in
 * test/security/log-file-dacl.test.ts.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ExitCode } from '../../shared/exit-codes.js'
import { openLogFile, trustedLogOwner } from '../../shared/log.js'
import { RelayError } from '../../shared/relay-error.js'

const NOBODY = 65534

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())))
}

/** A folder every user may write in (no sticky bit, so the kernel's protected_symlinks does not apply). */
function sharedDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-log-'))
  fs.chmodSync(dir, 0o777)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Run `cmd` as nobody; only root can. */
function asNobody(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { uid: NOBODY, gid: NOBODY })
  if (r.status !== 0) throw new Error(`${cmd} as nobody failed: ${r.stderr?.toString() ?? r.error?.message}`)
}

const posix = process.platform !== 'win32'
const root = posix && process.getuid?.() === 0

t.test('a new log file is created 0600 and gets the lines', { skip: !posix && 'POSIX modes' }, async (t) => {
  const file = path.join(sharedDir(t), 'relay.log')
  const log = await openLogFile(file)
  await write(log, 'line\n')
  log.end()
  t.equal(fs.statSync(file).mode & 0o777, 0o600)
  t.equal(fs.readFileSync(file, 'utf8'), 'line\n')
})

t.test('an existing log file of ours with a wider mode is made 0600, and appended to', { skip: !posix && 'POSIX modes' }, async (t) => {
  const file = path.join(sharedDir(t), 'relay.log')
  fs.writeFileSync(file, 'old\n', { mode: 0o644 })
  fs.chmodSync(file, 0o644)
  const log = await openLogFile(file)
  await write(log, 'new\n')
  log.end()
  t.equal(fs.statSync(file).mode & 0o777, 0o600)
  t.equal(fs.readFileSync(file, 'utf8'), 'old\nnew\n')
})

t.test('a symbolic link another user planted at the log path is not followed', { skip: !root && 'needs root to act as a second uid' }, async (t) => {
  const dir = sharedDir(t)
  const victim = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-victim-')), 'bashrc')
  t.teardown(() => fs.rmSync(path.dirname(victim), { recursive: true, force: true }))
  fs.writeFileSync(victim, 'mine\n', { mode: 0o600 })
  const link = path.join(dir, 'relay.log')
  asNobody('ln', ['-s', victim, link])
  t.ok(fs.lstatSync(link).isSymbolicLink() && fs.lstatSync(link).uid === NOBODY, 'nobody made the link')
  await t.rejects(openLogFile(link), new RelayError(`cannot open the log file ${link}: it is a symbolic link (give the real path)`, ExitCode.ERROR))
  t.equal(fs.readFileSync(victim, 'utf8'), 'mine\n', 'the target is untouched')
})

t.test('a log file owned by another user is refused and left as it was', { skip: !root && 'needs root to act as a second uid' }, async (t) => {
  const dir = sharedDir(t)
  const file = path.join(dir, 'relay.log')
  asNobody('sh', ['-c', `umask 022; echo theirs > '${file}'`])
  t.equal(fs.statSync(file).uid, NOBODY, 'nobody made the file')
  await t.rejects(openLogFile(file), new RelayError(`the log file ${file} belongs to uid ${NOBODY}, not to you (uid 0): use a file of your own`, ExitCode.ERROR))
  t.equal(fs.readFileSync(file, 'utf8'), 'theirs\n')
  t.equal(fs.statSync(file).mode & 0o777, 0o644, 'mode unchanged')
})

t.test('a log path that is not a regular file is refused', { skip: !posix && 'POSIX modes' }, async (t) => {
  const dir = sharedDir(t)
  await t.rejects(openLogFile(dir), RelayError, 'a directory fails to open at all')
  const fifo = path.join(dir, 'fifo')
  spawnSync('mkfifo', [fifo])
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  t.teardown(() => fs.closeSync(reader))
  await t.rejects(openLogFile(fifo), /the log file .*fifo is not a regular file/)
})

t.test('on Windows, a log file may be yours or Administrators\' (an elevated user\'s files), nobody else\'s', async (t) => {
  const me = 'S-1-5-21-1-2-3-1001'
  t.ok(trustedLogOwner(me, me), 'yours')
  t.ok(trustedLogOwner('BA', me), 'Administrators (SDDL alias)')
  t.ok(trustedLogOwner('S-1-5-32-544', me), 'Administrators (SID)')
  t.notOk(trustedLogOwner('S-1-5-21-1-2-3-1002', me), 'another user')
  t.notOk(trustedLogOwner('AN', me), 'the anonymous SID (what Wine shows for another Unix uid)')
  t.notOk(trustedLogOwner('', me), 'no owner at all')
})
