/**
 * Security, checked rather than assumed: a verbose session that signs data
 * logs message types and lengths, but none of the key blob, the data signed
 * or the signature, in any encoding (nor, with --lock/--confirm, the lock
 * passphrases, the question put to the user or the key's comment); the socket a listener creates and the
 * mapping pageant-relay hands to Pageant are private to the user.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { AgentMessage, FrameParser, encodeFrame } from '../../shared/agent/frames.js'
import { parseSddl } from '../../shared/win32/security.js'
import { builtExecutable, isolatedLinuxExecutable, repoRoot } from '../../lab/built.js'
import { recordFigures } from '../../lab/figures.js'
import { startListener } from '../fixtures/listener.js'
import { AGENT_TOOLS, startAgent, waitFor } from '../fixtures/openssh.js'
import { needs } from '../../lab/prerequisites.js'
import { startRelay } from '../fixtures/relay-process.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { wineSocat } from '../fixtures/wine-relay.js'
import { ensureWineServer, requireLab, runWine, startPageant } from '../../lab/winlab.js'

/** An SSH string: uint32 length, then the bytes. */
function withLength(b: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}

/** Read an SSH string at `at`: [value, offset after it]. */
function readString(b: Buffer, at: number): [Buffer, number] {
  const len = b.readUInt32BE(at)
  return [b.subarray(at + 4, at + 4 + len), at + 4 + len]
}

/** Over one connection: list the keys, sign `data` with the first; returns the secrets the log must not hold. */
async function signThrough(socket: string, data: Buffer): Promise<{ blob: Buffer; signature: Buffer }> {
  const conn = net.connect(socket)
  const parser = new FrameParser()
  const answers: Buffer[] = []
  conn.on('data', (d: Buffer) => answers.push(...parser.push(d).map((f) => f.bytes)))
  const ask = async (request: Buffer) => {
    const want = answers.length + 1
    conn.write(request)
    await waitFor(() => answers.length >= want, 'an agent answer')
    return answers[want - 1] as Buffer
  }
  const list = await ask(encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES))
  const [blob] = readString(list, 9)
  const sign = await ask(encodeFrame(AgentMessage.SSH_AGENTC_SIGN_REQUEST, Buffer.concat([withLength(blob), withLength(data), Buffer.alloc(4)])))
  conn.end()
  if (sign[4] !== AgentMessage.SSH_AGENT_SIGN_RESPONSE) throw new Error(`sign answered with type ${sign[4]}`)
  const [signature] = readString(sign, 5)
  return { blob, signature }
}

/**
 * The ways `secret` could show in a log: raw, hex (either case), base64 of
 * the whole, and base64 of every 24-byte stretch at every offset. A log
 * that base64-encodes a longer buffer holding the secret at position p
 * contains the encoding of each stretch that starts a multiple of 3 bytes
 * after the buffer's start, so which offsets of the secret show depends on
 * p: searching every offset finds it whatever p is.
 */
function secretForms(secret: Buffer): string[] {
  const forms = [secret.toString('latin1'), secret.toString('hex'), secret.toString('hex').toUpperCase(), secret.toString('base64')]
  for (let at = 0; at + 24 <= secret.length; at++) forms.push(secret.subarray(at, at + 24).toString('base64'))
  return forms
}

/** `name: form` for every form of every secret that `log` holds. */
function findSecrets(log: Buffer, secrets: Record<string, Buffer>): { found: string[]; searched: number } {
  const text = log.toString('latin1')
  const found: string[] = []
  let searched = 0
  for (const [name, secret] of Object.entries(secrets)) {
    const forms = secretForms(secret)
    searched += forms.length
    for (const form of forms) if (text.includes(form)) found.push(`${name}: ${JSON.stringify(form)}`)
  }
  return { found, searched }
}

/** The log holds none of `secrets` in any of the forms above. */
function assertNoSecrets(t: Test, log: Buffer, secrets: Record<string, Buffer>, where: string) {
  const { found, searched } = findSecrets(log, secrets)
  t.same(found, [], `${where}: no key, data or signature bytes in the log (${searched} forms searched)`)
  recordFigures('security', { 'verbose logs searched for key material': 1, 'encodings searched': searched, 'secrets found': found.length })
}

t.test('the search finds a planted secret in every encoding, at every alignment, and nothing in a clean log', async (t) => {
  const secret = randomBytes(64)
  const filler = Buffer.from('uds-relay: -> SSH_AGENTC_SIGN_REQUEST (153 bytes)\n')
  const misses: string[] = []
  for (let before = 0; before < 6; before++) {
    // The secret inside a longer buffer that a careless log encodes whole.
    const around = Buffer.concat([randomBytes(before), secret, randomBytes(5)])
    const plantings: Record<string, string> = {
      raw: secret.toString('latin1'),
      hex: around.toString('hex'),
      HEX: around.toString('hex').toUpperCase(),
      base64: around.toString('base64'),
    }
    for (const [encoding, planted] of Object.entries(plantings)) {
      const log = Buffer.concat([filler, Buffer.from(planted, 'latin1'), filler])
      if (findSecrets(log, { secret }).found.length === 0) misses.push(`${encoding} after ${before} byte(s)`)
    }
  }
  t.same(misses, [], 'found in each of 24 plantings')
  const other = randomBytes(300)
  const clean = Buffer.concat([filler, other, Buffer.from(other.toString('hex') + other.toString('base64')), filler])
  t.same(findSecrets(clean, { secret }).found, [], 'nothing found in a log of other bytes in the same encodings')
})

t.test('Linux: verbose relays signing through ssh-agent log no key, data or signature', needs(t, AGENT_TOOLS), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const data = Buffer.from('relaykit-signed-data-' + 'x'.repeat(40))

  const logFile = path.join(dir, 'listen.log')
  const sock = path.join(dir, 'listen.sock')
  await startListener(t, exe, ['-v', '--logfile', logFile, sock, '--', 'uds-relay', '--agent', '-v', agent.socket], { socket: sock })
  t.equal(fs.statSync(sock).mode & 0o777, 0o600, 'the listening socket is private to the user')
  const viaListener = await signThrough(sock, data)
  await waitFor(() => fs.readFileSync(logFile, 'utf8').includes('SSH_AGENT_SIGN_RESPONSE'), 'the log of the signature')
  const log = fs.readFileSync(logFile)
  t.match(log.toString(), /-> SSH_AGENTC_SIGN_REQUEST \(\d+ bytes\)/, 'the log is verbose: it names the messages')
  t.equal(fs.statSync(logFile).mode & 0o777, 0o600, 'the log file is private to the user')
  assertNoSecrets(t, log, { 'key blob': viaListener.blob, 'signed data': data, signature: viaListener.signature }, 'relay-listen --logfile, uds-relay --agent -v')

  for (const mode of [[], ['--agent']]) {
    const relay = startRelay(exe, ['uds-relay', '-v', ...mode, agent.socket])
    const relaySock = path.join(shortTempDir(t), 'bridge.sock')
    // A socket in front of the relay process so signThrough can talk to it.
    const server = net.createServer((c) => {
      c.pipe(relay.child.stdin)
      relay.child.stdout.pipe(c)
    })
    await new Promise<void>((r) => server.listen(relaySock, r))
    const secrets = await signThrough(relaySock, data)
    relay.child.stdin.end()
    const { stderr } = await relay.done
    server.close()
    t.match(stderr, /uds-relay: /, 'the relay did log')
    assertNoSecrets(t, Buffer.from(stderr, 'latin1'), { 'key blob': secrets.blob, 'signed data': data, signature: secrets.signature }, `uds-relay -v ${mode.join(' ')}`)
  }
})

/** One request over a fresh connection; resolves to the answer's type. */
async function askOnce(socket: string, request: Buffer): Promise<number> {
  const conn = net.connect(socket)
  const parser = new FrameParser()
  const type = await new Promise<number>((resolve, reject) => {
    conn.on('data', (d: Buffer) => {
      const [f] = parser.push(d)
      if (f) resolve(f.type)
    })
    conn.once('error', reject)
    conn.write(request)
  })
  conn.end()
  return type
}

t.test('Linux: --lock emulate and --confirm sign log neither passphrase, nor the question, nor key material', needs(t, AGENT_TOOLS), async (t) => {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  const agent = await startAgent(t, dir)
  const asked = path.join(dir, 'asked.txt')
  const askpass = path.join(dir, 'askpass.sh')
  fs.writeFileSync(askpass, `#!/bin/sh\nprintf '%s' "$1" > '${asked}'\nexit 0\n`, { mode: 0o755 })
  const logFile = path.join(dir, 'listen.log')
  const sock = path.join(dir, 'listen.sock')
  const flags = ['-v', '--lock', 'emulate', '--confirm', 'sign', '--askpass', askpass]
  await startListener(t, exe, ['-v', '--logfile', logFile, sock, '--', 'uds-relay', ...flags, agent.socket], { socket: sock })
  const passphrase = randomBytes(48)
  const wrong = randomBytes(48)
  const lockRequest = (type: number, pass: Buffer) => encodeFrame(type, withLength(pass))
  t.equal(await askOnce(sock, lockRequest(AgentMessage.SSH_AGENTC_LOCK, passphrase)), AgentMessage.SSH_AGENT_SUCCESS, 'locked')
  t.equal(await askOnce(sock, lockRequest(AgentMessage.SSH_AGENTC_UNLOCK, wrong)), AgentMessage.SSH_AGENT_FAILURE, 'a wrong passphrase refused')
  t.equal(await askOnce(sock, lockRequest(AgentMessage.SSH_AGENTC_UNLOCK, passphrase)), AgentMessage.SSH_AGENT_SUCCESS, 'unlocked')
  const data = Buffer.from('relaykit-confirmed-data-' + 'z'.repeat(40))
  const secrets = await signThrough(sock, data)
  const question = fs.readFileSync(asked, 'utf8')
  t.match(question, /^Allow use of key relaykit-test\?/, 'the user was asked, naming the key')
  await waitFor(() => fs.readFileSync(logFile, 'utf8').includes('SSH_AGENT_SIGN_RESPONSE'), 'the log of the signature')
  const log = fs.readFileSync(logFile)
  t.match(log.toString(), /unlocked \(emulated\)/, 'the log is verbose about the lock')
  t.match(log.toString(), /the user allowed a signature with key SHA256:/, 'and about the question')
  assertNoSecrets(
    t,
    log,
    {
      'lock passphrase': passphrase,
      'wrong unlock passphrase': wrong,
      'the question': Buffer.from(question),
      'key comment': Buffer.from('relaykit-test'),
      'key blob': secrets.blob,
      'signed data': data,
      signature: secrets.signature,
    },
    'uds-relay -v --lock emulate --confirm sign',
  )
})

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)
  t.test('Wine: pageant-relay -v signing with the real Pageant logs no key, data or signature', async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, timeoutMs: 600_000 })
    t.teardown(() => pageant.stop())
    const data = Buffer.from('relaykit-signed-by-pageant-' + 'y'.repeat(40))
    for (const transport of ['pipe', 'wmcopydata']) {
      const dir = shortTempDir(t)
      const logFile = path.join(dir, 'relay.log')
      const sock = path.join(dir, 'agent.sock')
      await wineSocat(t, lab, sock, `${lab.wine64} ${builtExecutable('win-x64')} pageant-relay -v --transport ${transport} --logfile ${logFile}`)
      const secrets = await signThrough(sock, data)
      await waitFor(() => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('SSH_AGENT_SIGN_RESPONSE'), 'the log of the signature', 30_000)
      const log = fs.readFileSync(logFile)
      t.match(log.toString(), /-> SSH_AGENTC_SIGN_REQUEST \(\d+ bytes\)/, `${transport}: the log is verbose`)
      assertNoSecrets(t, log, { 'key blob': secrets.blob, 'signed data': data, signature: secrets.signature }, `pageant-relay -v --transport ${transport}`)
    }
  })

  t.test('Wine: the WM_COPYDATA mapping is owned by the user and open to no one else', async (t) => {
    const script = path.join(repoRoot, 'test', 'robustness', 'fixtures', 'mapping-security.mjs')
    const r = await runWine(lab, lab.nodeExe, [script], { t })
    t.equal(r.code, 0, r.stderr)
    const { sid, sddl } = JSON.parse(r.stdout) as { sid: string; sddl: string }
    t.comment(`mapping SDDL as stored: ${sddl}`)
    const parsed = parseSddl(sddl)
    t.equal(parsed.owner, sid, 'owner is the current user, as Pageant requires')
    t.equal(parsed.daclFlags, 'P', 'DACL protected: nothing inherited')
    // Windows stores generic rights mapped (FA); Wine keeps GA.
    t.match(parsed.aces, [new RegExp(`^A;;(GA|FA|0x[0-9a-f]+);;;${sid}$`)], 'one ACE: the user')
    t.equal(parsed.aces.length, 1, 'and no other')
    recordFigures('security', { 'objects whose access was read back': 1 })
  })
}
