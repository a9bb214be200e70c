/**
 * Windows AF_UNIX sockets are not inheritable, so a process relay-listen
 * spawns per connection (or the mux process) holds neither the listening
 * socket nor other clients' connections. Wine has no AF_UNIX, so the
 * compiled Winsock bindings run with AF_INET under Wine: the handle flag
 * is read back for a socket they create, their listening socket and a
 * connection it accepted; a plain socket() is the control (inheritable),
 * which shows the check can tell. That a child really does not receive the
 * socket is Windows' promise for a handle without HANDLE_FLAG_INHERIT, not
 * tried here.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { assertCompiled } from '../../lab/built.js'
import { ensureWineServer, requireLab, runWine, winPath } from '../../lab/winlab.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  t.test('sockets made, listening and accepted by the Winsock bindings are not inheritable', async (t) => {
    assertCompiled(['win32/winsock', 'win32/kernel32'])
    const host = path.join(root, 'test', 'shared', 'win32', 'fixtures', 'winsock-inherit-host.mjs')
    const r = await runWine(lab, lab.nodeExe, [winPath(host)], { t, timeoutMs: 60_000 })
    const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Record<string, unknown>
    t.equal(out.error, undefined, `the host reported no error (${String(out.error)}; ${r.stderr})`)
    t.equal(out.plain, true, 'control: a plain socket() is inheritable, so the flag is read for real')
    t.equal(out.created, false, 'a socket we create: not inheritable')
    t.equal(out.listening, false, 'the listening socket: not inheritable')
    t.equal(out.accepted, false, 'an accepted connection: not inheritable')
    t.equal(out.socketFlags, 0x81, 'asked for WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT')
  })
}
