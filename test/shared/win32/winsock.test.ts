/**
 * shared/win32/winsock.ts for real, under Wine. Wine has no AF_UNIX
 * (socket() fails with WSAEAFNOSUPPORT), so:
 * - the built relaykit-win-x64.exe must fail at once with the clear
 *   "no AF_UNIX" error and exit 3, from uds-relay (also with -p, which must
 *   not wait for it) and relay-listen: proof the bindings load in the
 *   artifact and the error mapping is wired;
 * - the same bindings with AF_INET, which Wine has, carry af-unix.ts's
 *   stream class (fixtures/winsock-host.mjs): the overlapped recv/send on
 *   the completion port, the polled connect and its refused error, accept
 *   and its end on close. Everything specific to AF_UNIX (the address, the
 *   socket files, stale/live listeners) is tested with fakes in
 *   test/shared/channels/af-unix/af-unix.test.ts.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseSddl } from '../../../shared/win32/security.js'
import { builtExecutable, assertCompiled } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { ensureWineServer, requireLab, runWine, winPath } from '../../../lab/winlab.js'

const here = path.dirname(fileURLToPath(import.meta.url))

const NO_AF_UNIX = /no AF_UNIX sockets \(they need Windows 10 1803 or later; Wine has none\); use a named pipe \/\/\.\/pipe\/NAME instead/

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  const exe = builtExecutable('win-x64')

  t.test('uds-relay.exe on an AF_UNIX path: the clear error at once, exit 3', async (t) => {
    const sock = winPath(path.join(shortTempDir(t), 'agent.sock'))
    const started = Date.now()
    const r = await runWine(lab, exe, ['uds-relay', sock], { input: Buffer.from([0, 0, 0, 1, 11]), t })
    t.equal(r.code, 3, `exit 3 (unavailable): ${r.stderr}`)
    t.match(r.stderr, NO_AF_UNIX)
    t.equal(r.stdout, '', 'nothing on stdout')
    t.ok(Date.now() - started < 30_000, `promptly (${Date.now() - started} ms, Wine start included)`)

    const polled = await runWine(lab, exe, ['uds-relay', '-p', sock], { timeoutMs: 30_000, t })
    t.equal(polled.code, 3, '-p does not wait for an AF_UNIX that will never come')
    t.match(polled.stderr, NO_AF_UNIX)
  })

  t.test('relay-listen.exe on an AF_UNIX path: the clear error at once, exit 3, no file left', async (t) => {
    const dir = shortTempDir(t)
    const sock = path.join(dir, 'agent.sock')
    const r = await runWine(lab, exe, ['relay-listen', winPath(sock), '--', 'uds-relay', winPath(path.join(dir, 'other.sock'))], { t })
    t.equal(r.code, 3, `exit 3 (unavailable): ${r.stderr}`)
    t.match(r.stderr, NO_AF_UNIX)
    t.notOk(fs.existsSync(sock), 'no socket file created')
  })

  t.test('the bindings with AF_INET carry the stream class: refused, 4 MiB up and 1 MiB down byte-exact, half-close, accept ends on close', async (t) => {
    assertCompiled(['channels/af-unix/af-unix', 'win32/winsock', 'win32/completion-port', 'win32/security', 'win32/kernel32', 'win32/errors'])
    const privateFile = path.join(shortTempDir(t), 'private.txt')
    fs.writeFileSync(privateFile, '')
    const r = await runWine(lab, lab.nodeExe, [winPath(path.join(here, 'fixtures', 'winsock-host.mjs'))], {
      env: { PRIVATE_FILE: winPath(privateFile) },
      t,
    })
    const line = r.stdout.trim().split('\n').pop() ?? ''
    const out = JSON.parse(line || '{}') as Record<string, unknown>
    t.equal(out.error, undefined, `no failure in the host (${String(out.error)}; stderr: ${r.stderr})`)
    t.same(out.refused, { code: 'ECONNREFUSED', winError: 10061, syscall: 'connect' }, 'a refused non-blocking connect reports WSAECONNREFUSED (select + SO_ERROR)')
    const up = out.up as { sent: string; received: string; length: number }
    const down = out.down as { sent: string; received: string; length: number }
    t.equal(up.length, 4 * 1024 * 1024)
    t.equal(up.received, up.sent, 'client → server byte-exact through overlapped reads and writes')
    t.equal(down.length, 1024 * 1024)
    t.equal(down.received, down.sent, 'server → client byte-exact, sent after the client shut down its side')
    t.equal(out.acceptAfterClose, 'ECANCELED', 'closesocket ends a pending accept (the pool thread is freed)')
    // Wine maps a file's DACL onto Unix mode bits and reads back a synthesized
    // one, so what restrictFileToUser stored cannot be checked here; that the
    // calls (CreateFileW with OPEN_REPARSE_POINT, SetKernelObjectSecurity) succeed is.
    t.comment(`file SDDL as read back: ${String(out.sddl)}`)
    // The user's SID from Wine itself, not from relaykit's code: the
    // HKEY_USERS hive Wine loaded for the user is named after it.
    const users = await runWine(lab, 'reg', ['query', 'HKEY_USERS'], { t })
    const userSid = /^HKEY_USERS\\(S-1-5-21-[\d-]+)\r?$/m.exec(users.stdout)?.[1]
    t.ok(userSid, `the user's SID from reg query HKEY_USERS (${users.stdout.trim().replace(/\r?\n/g, ' ')})`)
    t.equal(out.userSid, userSid, "currentUserSid() is the user's SID")
    t.equal(parseSddl(String(out.sddl)).owner, userSid, "the file reads back owned by the user's SID (Wine derives it from the Unix owner: what restrictFileToUser stored cannot be seen here)")
  })

  t.test('the same streams and accept with the last error lost after every call but connect', async (t) => {
    // As when a koffi async call (accept, the completion port's wait) ends
    // on a pool thread right after a call: overlapped reads and writes must
    // not decide anything from WSAGetLastError (fixtures/last-error-lost.mjs).
    const r = await runWine(lab, lab.nodeExe, [winPath(path.join(here, 'fixtures', 'winsock-host.mjs'))], { env: { LAST_ERROR_LOST: '1' }, t })
    const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Record<string, { sent: string; received: string } | string | undefined>
    t.equal(out.error, undefined, `no failure in the host (${String(out.error)}; stderr: ${r.stderr})`)
    const up = out.up as { sent: string; received: string }
    const down = out.down as { sent: string; received: string }
    t.equal(up.received, up.sent, '4 MiB up byte-exact')
    t.equal(down.received, down.sent, '1 MiB down byte-exact')
    t.equal(out.acceptAfterClose, 'ECANCELED', 'an accept ended by closesocket is cancelled, whatever the last error says')
  })
}
