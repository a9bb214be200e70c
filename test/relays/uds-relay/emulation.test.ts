/**
 * --constraints emulate, --lock emulate and --confirm against real OpenSSH.
 *
 * Every scenario runs twice with the same expectations: once against
 * OpenSSH's own ssh-agent, which implements lifetimes, confirmation and
 * locking itself (the reference), and once through relaykit (the built
 * executable, relay-listen running uds-relay in-process) in front of an
 * agent that refuses all three: that same ssh-agent behind a relay with
 * `-deny 24+25+26+22+23`, which answers FAILURE exactly where Pageant and
 * Win32-OpenSSH's agent do. The user is asked through an askpass script
 * whose answer each step chooses (yes, no, no answer, crash, garbage).
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { needs } from '../../../lab/prerequisites.js'
import { startListener } from '../../fixtures/listener.js'
import { AGENT_TOOLS, SSHD_TOOLS, type Sshd, run, socatListen, spawnDaemon, startAgent, startSshd, waitFor } from '../../fixtures/openssh.js'
import { sessionBindDropper } from '../../fixtures/stand-in-agents.js'

const TOOLS = needs(t, [...AGENT_TOOLS, ...SSHD_TOOLS])

type Answer = 'yes' | 'no' | 'hang' | 'crash' | 'garbage'

/** An askpass program: answers as `answer()` says, records each question it gets. */
function askpass(dir: string) {
  const script = path.join(dir, 'askpass.sh')
  const mode = path.join(dir, 'askpass.mode')
  const asked = path.join(dir, 'askpass.log')
  fs.writeFileSync(
    script,
    [
      '#!/bin/sh',
      `printf '%s|%s\\n' "$SSH_ASKPASS_PROMPT" "$1" | tr '\\n' ' ' >> '${asked}'; echo >> '${asked}'`,
      `case "$(cat '${mode}')" in`,
      '  yes) exit 0 ;;',
      '  no) exit 1 ;;',
      '  hang) exec sleep 60 ;;',
      '  crash) kill -SEGV $$ ;;',
      '  garbage) echo "sure, why not"; exit 0 ;;',
      '  passphrase:*) cat "' + mode + '" | cut -d: -f2- ; exit 0 ;;',
      'esac',
      '',
    ].join('\n'),
    { mode: 0o755 },
  )
  fs.writeFileSync(mode, 'no')
  fs.writeFileSync(asked, '')
  return {
    script,
    answer(a: Answer | `passphrase:${string}`) {
      fs.writeFileSync(mode, a)
    },
    /** Questions asked since the last call. */
    questions(): string[] {
      const lines = fs.readFileSync(asked, 'utf8').split('\n').filter(Boolean)
      fs.writeFileSync(asked, '')
      return lines
    },
  }
}

type Askpass = ReturnType<typeof askpass>

async function newKey(dir: string, name: string): Promise<{ key: string; fp: string; pub: string }> {
  const key = path.join(dir, name)
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}-comment`, '-f', key])
  const fp = (await run('ssh-keygen', ['-l', '-f', `${key}.pub`])).stdout.split(' ')[1] as string
  return { key, fp, pub: fs.readFileSync(`${key}.pub`, 'utf8').trim() }
}

/** ssh-add with the askpass script as its passphrase source (for -x/-X), never failing the test itself. */
async function sshAddTo(socket: string, args: string[], ask?: Askpass) {
  const env = { ...process.env, SSH_AUTH_SOCK: socket, ...(ask ? { SSH_ASKPASS: ask.script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' } : {}) }
  return run('ssh-add', args, { env, timeout: 30_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )
}

const listed = async (socket: string) => (await sshAddTo(socket, ['-l'])).stdout

/** ssh-add -t 3: listed at once, gone 3 s (±1 s) later. */
async function lifetimeScenario(t: Test, socket: string, dir: string, label: string) {
  const k = await newKey(dir, `lifetime-${label}`)
  const added = Date.now()
  t.equal((await sshAddTo(socket, ['-q', '-t', '3', k.key])).code, 0, 'ssh-add -t 3 succeeds')
  t.match(await listed(socket), k.fp, 'the key is listed')
  await waitFor(async () => !(await listed(socket)).includes(k.fp), 'the key to expire', 8000)
  const gone = (Date.now() - added) / 1000
  t.ok(gone >= 2 && gone <= 4, `gone after ${gone.toFixed(2)} s (3 s ± 1 s)`)
  return k
}

/** ssh-add -x / -X. */
async function lockScenario(t: Test, socket: string, ask: Askpass, pub: string) {
  ask.answer('passphrase:open sesame')
  t.equal((await sshAddTo(socket, ['-x'], ask)).code, 0, 'ssh-add -x locks')
  t.match(await listed(socket), /no identities/, 'locked: the list is empty')
  t.not((await sshAddTo(socket, ['-T', pub])).code, 0, 'locked: signing is refused')
  t.not((await sshAddTo(socket, ['-x'], ask)).code, 0, 'locking again is refused')
  ask.answer('passphrase:open says me')
  t.not((await sshAddTo(socket, ['-X'], ask)).code, 0, 'a wrong passphrase does not unlock')
  t.match(await listed(socket), /no identities/, 'still locked')
  ask.answer('passphrase:open sesame')
  t.equal((await sshAddTo(socket, ['-X'], ask)).code, 0, 'the right passphrase unlocks')
  t.equal((await sshAddTo(socket, ['-T', pub])).code, 0, 'unlocked: signing works again')
  t.not((await sshAddTo(socket, ['-X'], ask)).code, 0, 'unlocking an unlocked agent is refused')
  ask.questions()
}

/** ssh-add -c, then ssh logins answered yes, no, and not at all. */
async function confirmScenario(t: Test, socket: string, ask: Askpass, sshd: Sshd, key: { key: string; fp: string }, noAnswerSeconds: number) {
  t.equal((await sshAddTo(socket, ['-q', '-c', key.key])).code, 0, 'ssh-add -c succeeds')
  ask.questions()
  const login = () => sshd.ssh(socket, ['-o', 'IdentitiesOnly=no'], 'echo signed-in').then((r) => r.stdout.trim(), () => 'refused')
  ask.answer('yes')
  t.equal(await login(), 'signed-in', 'askpass yes: logs in')
  const asked = ask.questions()
  t.equal(asked.length, 1, 'asked once')
  t.match(asked[0], /^confirm\|/, 'SSH_ASKPASS_PROMPT=confirm')
  t.match(asked[0], key.fp, 'the question names the key fingerprint')
  ask.answer('no')
  t.equal(await login(), 'refused', 'askpass no: refused')
  ask.answer('hang')
  const started = Date.now()
  t.equal(await login(), 'refused', 'no answer: refused')
  t.ok(Date.now() - started >= noAnswerSeconds * 1000 - 200, `refused only after the timeout (${noAnswerSeconds} s)`)
  ask.questions()
}

t.test('lifetime, lock and confirm: ssh-agent itself, and relaykit emulating them for an agent that refuses them', TOOLS, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const ask = askpass(dir)
  // The reference: ssh-agent asks through SSH_ASKPASS itself.
  const agentEnv = { ...process.env, SSH_ASKPASS: ask.script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }
  const refSock = path.join(dir, 'ref.sock')
  spawnDaemon(t, 'ssh-agent', ['-D', '-a', refSock], { env: agentEnv })
  await waitFor(() => fs.existsSync(refSock), 'reference ssh-agent')
  const base = await startAgent(t, dir)
  const refusing = path.join(dir, 'refusing.sock')
  await startListener(t, exe, [refusing, '--', 'uds-relay', '-deny', '24+25+26+22+23', base.socket], { socket: refusing })
  const sock = path.join(dir, 'relaykit.sock')
  const l = await startListener(t, exe, ['-v', sock, '--', 'uds-relay', '-v', '--constraints', 'emulate', '--lock', 'emulate', '--askpass', ask.script, '--confirm-timeout', '2', refusing], { socket: sock })

  const probe = await newKey(dir, 'probe')
  t.not((await sshAddTo(refusing, ['-q', '-t', '3', probe.key])).code, 0, 'the upstream refuses ssh-add -t, as Pageant does')
  t.not((await sshAddTo(refusing, ['-q', '-c', probe.key])).code, 0, 'the upstream refuses ssh-add -c')
  ask.answer('passphrase:x')
  t.not((await sshAddTo(refusing, ['-x'], ask)).code, 0, 'the upstream refuses ssh-add -x')

  t.test('lifetime (reference: ssh-agent)', (t) => lifetimeScenario(t, refSock, dir, 'ref').then(() => {}))
  t.test('lifetime (relaykit)', async (t) => {
    const k = await newKey(dir, 'lifetime-check')
    t.equal((await sshAddTo(sock, ['-q', '-t', '30', k.key])).code, 0)
    t.match(await listed(base.socket), k.fp, 'the agent itself holds the key, added without constraints')
    await sshAddTo(sock, ['-q', '-d', `${k.key}.pub`])
    await lifetimeScenario(t, sock, dir, 'relaykit')
    t.match(l.log(), /lifetime of key SHA256:\S+ ended: removed it from the agent/)
  })
  t.test('lock (reference: ssh-agent)', async (t) => {
    const k = await newKey(dir, 'lock-ref')
    await sshAddTo(refSock, ['-q', k.key])
    await lockScenario(t, refSock, ask, `${k.key}.pub`)
  })
  t.test('lock (relaykit)', async (t) => {
    await lockScenario(t, sock, ask, `${base.key}.pub`)
    t.notMatch(l.log(), /open sesame|open says me/, 'no passphrase in the log')
  })
  t.test('confirm (reference and relaykit)', async (t) => {
    const k = await newKey(dir, 'confirm')
    const sshd = await startSshd(t, dir, k.pub)
    // ssh-agent's own timeout for an unanswered question is its askpass's: the script is killed by nobody, so the reference "no answer" is a no.
    t.test('reference: ssh-agent', async (t) => {
      t.equal((await sshAddTo(refSock, ['-q', '-c', k.key])).code, 0)
      ask.answer('yes')
      t.equal((await sshd.ssh(refSock, [], 'echo signed-in')).stdout.trim(), 'signed-in', 'askpass yes: logs in')
      t.match(ask.questions()[0], k.fp)
      ask.answer('no')
      t.equal(await sshd.ssh(refSock, [], 'true').then(() => 'in', () => 'refused'), 'refused', 'askpass no: refused')
      ask.questions()
    })
    t.test('relaykit', (t) => confirmScenario(t, sock, ask, sshd, k, 2))
    t.test('relaykit: an askpass that crashes or prints garbage is a no', async (t) => {
      for (const a of ['crash', 'garbage'] as const) {
        ask.answer(a)
        t.equal(await sshd.ssh(sock, [], 'true').then(() => 'in', () => 'refused'), 'refused', a)
      }
      t.match(l.log(), /refused a signature with key SHA256:\S+: the askpass program was killed by SIGSEGV/)
      t.match(l.log(), /refused a signature with key SHA256:\S+: the askpass program printed something other than yes/)
      t.match(l.log(), /refused a signature with key SHA256:\S+: no answer within 2 s/)
      t.notMatch(l.log(), /sure, why not|confirm-comment/, 'neither the askpass output nor the key comment in the log')
    })
  })
  t.test('relaykit: constraints it cannot enforce are refused, nothing added', async (t) => {
    const k = await newKey(dir, 'restricted')
    const host = await newKey(dir, 'hostkey')
    const knownHosts = path.join(dir, 'restrict_known_hosts')
    fs.writeFileSync(knownHosts, `example.com ${host.pub}\n`)
    // ssh-add -h: the restrict-destination-v00@openssh.com constraint extension.
    const r = await sshAddTo(sock, ['-q', '-H', knownHosts, '-h', 'example.com', k.key])
    t.not(r.code, 0, 'ssh-add -h fails')
    t.notMatch(await listed(base.socket), k.fp, 'nothing reached the agent')
    t.match(l.log(), /refused a constrained add: constraint extension "restrict-destination-v00@openssh\.com" cannot be enforced/)
  })
})

t.test('--confirm forwarded-sign: a signature asked for from the far side of ssh -A asks; a local login does not', TOOLS, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const ask = askpass(dir)
  const agent = await startAgent(t, dir)
  const sshd = await startSshd(t, dir, agent.publicKey)
  const hostFp = (await run('ssh-keygen', ['-l', '-f', path.join(dir, 'ssh_host_ed25519_key.pub')])).stdout.split(' ')[1] as string
  // With -compat the relay answers session-bind itself: it must still see which connection was forwarded.
  for (const extra of [[], ['-compat']]) {
    t.test(`uds-relay --confirm forwarded-sign ${extra.join(' ')}`, async (t) => {
      const sock = path.join(dir, `relaykit${extra.length}.sock`)
      await startListener(t, exe, [sock, '--', 'uds-relay', ...extra, '--confirm', 'forwarded-sign', '--askpass', ask.script, agent.socket], { socket: sock })
      ask.answer('no')
      t.equal((await sshd.ssh(sock, [], 'echo local')).stdout.trim(), 'local', 'local login signs without asking')
      t.same(ask.questions(), [], 'nobody was asked')
      const farSign = `SSH_AUTH_SOCK=$SSH_AUTH_SOCK ssh-add -T ${agent.key}.pub && echo far-signed`
      ask.answer('yes')
      t.match((await sshd.ssh(sock, ['-A'], farSign)).stdout, 'far-signed', 'askpass yes: the far side signs')
      const asked = ask.questions()
      t.equal(asked.length, 1, "asked once, for the far side's signature only")
      t.match(asked[0], agent.fingerprint, 'names the key')
      t.match(asked[0], `Requested for host key ${hostFp} through a forwarded agent`, 'names the host the agent was forwarded to')
      ask.answer('no')
      const refused = await sshd.ssh(sock, ['-A'], farSign).then((r) => r.stdout, (e: { stdout: string }) => e.stdout)
      t.notMatch(refused, 'far-signed', 'askpass no: the far side cannot sign')
      ask.questions()
    })
  }
})

t.test('-deny ext:NAME refuses that extension; ssh still logs in when it is session-bind', TOOLS, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'relaykit.sock')
  const l = await startListener(t, exe, [sock, '--', 'uds-relay', '-deny', 'ext:session-bind@openssh.com', agent.socket], { socket: sock })
  const sshd = await startSshd(t, dir, agent.publicKey)
  t.equal((await sshd.ssh(sock, [], 'echo in')).stdout.trim(), 'in')
  t.match(l.log(), /refused SSH_AGENTC_EXTENSION "session-bind@openssh\.com" \(-deny\)/)
})

t.test('auto-compat: an agent that hangs up on session-bind is found out once; ssh logs in without -compat', TOOLS, async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const oldSock = path.join(dir, 'old.sock')
  const old = await sessionBindDropper(t, oldSock, agent.socket)
  const sshd = await startSshd(t, dir, agent.publicKey)
  const direct = await sshd.ssh(oldSock, [], 'true').then(() => 'in', () => 'failed')
  t.equal(direct, 'failed', 'the stand-in breaks ssh on its own')
  const sock = path.join(dir, 'relaykit.sock')
  const l = await startListener(t, exe, [sock, '--', 'uds-relay', '--agent', oldSock], { socket: sock })
  for (const n of [1, 2, 3]) t.equal((await sshd.ssh(sock, [], `echo in-${n}`)).stdout.trim(), `in-${n}`, `login ${n}`)
  t.equal(old.dropped, 2, 'the agent saw session-bind once through relaykit (once more before, directly)')
  t.equal([...l.log().matchAll(/dropped the connection on session-bind/g)].length, 1, 'logged once')
})

t.test('a relay run per connection (socat) refuses what it could not keep after the connection', needs(t, [...AGENT_TOOLS, 'socat']), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const sock = path.join(dir, 'socat.sock')
  await socatListen(t, sock, `${exe} uds-relay --constraints emulate --lock emulate ${agent.socket}`)
  const k = await newKey(dir, 'per-connection')
  for (const flag of ['-c', '-t']) {
    const args = flag === '-t' ? ['-q', '-t', '5', k.key] : ['-q', flag, k.key]
    t.not((await sshAddTo(sock, args)).code, 0, `ssh-add ${flag} refused`)
  }
  t.notMatch(await listed(agent.socket), k.fp, 'nothing added')
  const ask = askpass(dir)
  ask.answer('passphrase:x')
  t.not((await sshAddTo(sock, ['-x'], ask)).code, 0, 'ssh-add -x refused')
  t.equal((await sshAddTo(sock, ['-q', k.key])).code, 0, 'a plain add works')
})
