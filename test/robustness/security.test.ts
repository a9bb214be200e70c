/**
 * Security, checked rather than assumed: a verbose session that signs data
 * logs message types and lengths, but none of the key blob, the data signed
 * or the signature, in any encoding; the socket a listener creates and the
 * mapping pageant-relay hands to Pageant are private to the user.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { AgentMessage, FrameParser, encodeFrame } from '../../shared/agent/frames.js'
import { parseSddl } from '../../shared/win32/security.js'
import { builtExecutable, isolatedLinuxExecutable, repoRoot } from '../../lab/built.js'
import { recordFigures } from '../../lab/figures.js'
import { startListener } from '../fixtures/listener.js'
import { startAgent, waitFor } from '../fixtures/openssh.js'
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

/** The log holds none of `secrets`: raw, hex (either case) or base64 (whole, or any 24-byte stretch). */
function assertNoSecrets(t: Test, log: Buffer, secrets: Record<string, Buffer>, where: string) {
  const text = log.toString('latin1')
  let searched = 0
  for (const [name, secret] of Object.entries(secrets)) {
    const forms: string[] = [secret.toString('latin1'), secret.toString('hex'), secret.toString('hex').toUpperCase(), secret.toString('base64')]
    // A base64 encoding of any 3-byte-aligned stretch shows up in a longer encoding too.
    for (let at = 0; at + 24 <= secret.length; at += 3) forms.push(secret.subarray(at, at + 24).toString('base64'))
    const found = forms.filter((f) => text.includes(f))
    t.same(found, [], `${where}: no ${name} bytes in the log (${forms.length} forms searched)`)
    searched += forms.length
  }
  recordFigures('security', { 'verbose logs searched for key material': 1, 'encodings searched': searched, 'secrets found': t.lists.fail.filter((r) => r.name.startsWith(`${where}: no `)).length })
}

t.test('Linux: verbose relays signing through ssh-agent log no key, data or signature', async (t) => {
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
