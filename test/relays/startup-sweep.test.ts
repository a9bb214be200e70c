/**
 * Every relay's start-up failures, with the built executable on Linux:
 * missing, wrong-type, unreadable and unreachable addresses and bad flag
 * values each end at once with one message on stderr naming the problem
 * and a documented exit code (never a hang, never a stack trace). The
 * table is printed as test comments: input | message | exit | time.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { isolatedLinuxExecutable } from '../../lab/built.js'

/** Bound for "at once": a hang shows, a loaded CI machine does not trip it; the measured times are printed. */
const AT_ONCE_MS = 3000

const exe = isolatedLinuxExecutable(t)
const dir = path.dirname(exe)
fs.chmodSync(dir, 0o755)
fs.writeFileSync(path.join(dir, 'plain-file'), 'not a socket\n')
fs.mkdirSync(path.join(dir, 'a-dir'))
fs.writeFileSync(path.join(dir, 'secret-file'), '!<socket >1 s 00000000-00000000-00000000-00000000\0', { mode: 0o600 })
const stale = path.join(dir, 'stale.sock')
spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`])
const request = Buffer.from([0, 0, 0, 1, 11])
const asRoot = process.getuid?.() === 0

interface Case {
  argv: string[]
  code: number
  message: RegExp
  /** Bytes for stdin; the relay's answer then belongs on stdout (FAILURE, for a request nothing could answer). */
  input?: Buffer
  /** Run as nobody (permission cases need a user that is not root). */
  nobody?: boolean
}

const cases: Case[] = [
  { argv: ['uds-relay', path.join(dir, 'missing.sock')], code: 3, message: /no socket at .*missing\.sock: is the agent running/ },
  { argv: ['uds-relay', stale], code: 3, message: /nobody is listening on .*stale\.sock: it is a stale socket/ },
  { argv: ['uds-relay', path.join(dir, 'plain-file')], code: 5, message: /plain-file is not a libassuan socket file/ },
  { argv: ['uds-relay', path.join(dir, 'a-dir')], code: 3, message: /a-dir is a directory, not a socket/ },
  { argv: ['uds-relay', path.join(dir, 'secret-file')], code: 3, message: /names port 1 but nobody listens there: the file is stale/ },
  { argv: ['uds-relay', path.join(dir, 'secret-file')], code: 4, message: /permission denied for .*secret-file: the socket or its directory belongs to another user/, nobody: true },
  { argv: ['uds-relay', '--request-timeout', 'x', stale], code: 2, message: /-request-timeout: "x" is not a number of seconds/ },
  { argv: ['uds-relay', '--nosuch', stale], code: 2, message: /flag provided but not defined: -nosuch/ },
  { argv: ['uds-relay'], code: 2, message: /expected 1 argument\(s\), got 0/ },
  { argv: ['npiperelay', '//./pipe/relaykit-missing'], code: 1, message: /open \/\/\.\/pipe\/relaykit-missing: The system cannot find the file specified/ },
  { argv: ['npiperelay', '-a', path.join(dir, 'missing-assuan')], code: 1, message: /no libassuan socket file at .*missing-assuan/ },
  { argv: ['npiperelay', '-deny', 'nosuch', '//./pipe/x'], code: 2, message: /-deny: unknown request type "nosuch"/ },
  { argv: ['npiperelay'], code: 1, message: /expected 1 argument/ },
  { argv: ['pageant-relay'], code: 3, message: /Pageant exists only on Windows/ },
  { argv: ['pageant-relay', '--ssh', path.join(dir, 'missing.sock')], code: 3, message: /no agent listens on .*missing\.sock/, input: request },
  { argv: ['pageant-relay', '--transport', 'x'], code: 2, message: /-transport: "x" is not one of auto, pipe, wmcopydata/ },
  { argv: ['pageant-relay', '--gpg', 'S.gpg-agent', '--gpgConfigBasepath', path.join(dir, 'a-dir')], code: 3, message: /no libassuan socket file at .*S\.gpg-agent/ },
  { argv: ['relay-listen', path.join(dir, 'plain-file'), '--', 'cat'], code: 1, message: /exists and is not a socket; refusing to replace it/ },
  { argv: ['relay-listen', '/proc/x/y.sock', '--', 'cat'], code: 1, message: /cannot create the directory \/proc\/x/ },
  { argv: ['relay-listen', path.join(dir, 's')], code: 2, message: /no command to run per connection/ },
  { argv: ['mux', 'nosuch'], code: 2, message: /"nosuch" is not a relay mux can run/ },
  { argv: ['doctor', '--timeout', '0'], code: 2, message: /-timeout: "0" is not a number of seconds greater than 0/ },
  { argv: ['nosuch-relay'], code: 2, message: /unknown relay or command "nosuch-relay"/ },
]

for (const c of cases) {
  if (c.nobody && !asRoot) continue // as a normal user the file is ours: no permission case to make
  const title = `${c.nobody ? '(as nobody) ' : ''}${c.argv.join(' ').replaceAll(dir, 'DIR')}`
  t.test(title, async (t) => {
    const started = process.hrtime.bigint()
    const r = spawnSync(exe, c.argv, {
      input: c.input ?? Buffer.alloc(0),
      encoding: 'utf8',
      timeout: 30_000,
      ...(c.nobody ? { uid: 65534, gid: 65534 } : {}),
    })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.equal(r.status, c.code, `exit ${c.code}`)
    t.match(r.stderr, c.message, 'the message names the problem')
    t.notMatch(r.stderr, /\n\s+at |internal error/, 'no stack trace')
    t.equal(r.stdout, c.input ? '\0\0\0\x01\x05' : '', c.input ? 'SSH_AGENT_FAILURE on stdout, nothing else' : 'nothing on stdout')
    t.ok(ms < AT_ONCE_MS, `ended in ${ms.toFixed(0)} ms`)
    t.comment(`${title} | ${r.stderr.split('\n')[0]?.replaceAll(dir, 'DIR')} | ${r.status} | ${ms.toFixed(0)} ms`)
  })
}
