/**
 * Constrained adds as OpenSSH's ssh-add writes them (captured from the real
 * ssh-add, every key type it makes) and as it could write them (extensions,
 * both numbers of the extension id, malformed tails): what relaykit sends on
 * without constraints, and what it keeps or refuses.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ConstraintError, parseConstrainedAdd } from '../../../shared/agent/constraints.js'
import { AgentMessage, HEADER_LEN, makeFrame } from '../../../shared/agent/frames.js'
import { fingerprint, printableComment } from '../../../shared/agent/key-blob.js'
import { wireString, wireUint32 } from '../../../shared/agent/wire-reader.js'
import { shortTempDir } from '../../../lab/temp-dir.js'
import { needs } from '../../../lab/prerequisites.js'
import { AGENT_TOOLS, run, sshAdd } from '../../fixtures/openssh.js'
import { recordingAgent } from '../../fixtures/stand-in-agents.js'

const M = AgentMessage

/** The blob a .pub file holds (its second word, base64). */
function pubBlob(file: string): Buffer {
  return Buffer.from(fs.readFileSync(file, 'utf8').split(' ')[1] as string, 'base64')
}

const KEY_TYPES: Record<string, string[]> = {
  ed25519: ['-t', 'ed25519'],
  'ecdsa-256': ['-t', 'ecdsa', '-b', '256'],
  'ecdsa-384': ['-t', 'ecdsa', '-b', '384'],
  'ecdsa-521': ['-t', 'ecdsa', '-b', '521'],
  rsa: ['-t', 'rsa', '-b', '2048'],
  dsa: ['-t', 'dsa'],
}

t.test('ssh-add -t 3 -c, every key type: the key, its comment, lifetime and confirm, and the same add without constraints', needs(t, AGENT_TOOLS), async (t) => {
  const dir = shortTempDir(t)
  const socket = path.join(dir, 'rec.sock')
  const rec = await recordingAgent(t, socket)
  for (const [name, args] of Object.entries(KEY_TYPES)) {
    const key = path.join(dir, `id_${name}`)
    await run('ssh-keygen', ['-q', ...args, '-N', '', '-C', `comment of ${name}`, '-f', key])
    rec.frames.length = 0
    await sshAdd(socket, ['-q', '-t', '3', '-c', key])
    const add = rec.frames.find((f) => f.type === M.SSH_AGENTC_ADD_ID_CONSTRAINED)
    if (!add) {
      t.fail(`${name}: ssh-add sent no constrained add`)
      continue
    }
    const parsed = parseConstrainedAdd(add)
    if (parsed.kind !== 'key') throw new Error('not a key add')
    t.same(parsed.key.blob, pubBlob(`${key}.pub`), `${name}: the public blob, as the .pub file holds it`)
    t.equal(parsed.key.comment, `comment of ${name}`, `${name}: comment`)
    t.same(parsed.constraints, { lifetimeSeconds: 3, confirm: true }, `${name}: constraints`)
    t.equal(parsed.unconstrained.type, M.SSH_AGENTC_ADD_IDENTITY, `${name}: sent on as ADD_IDENTITY`)
    const constraintBytes = 1 + 4 + 1 // lifetime (type, uint32), confirm (type)
    t.same(parsed.unconstrained.bytes.subarray(HEADER_LEN + 1), add.bytes.subarray(HEADER_LEN + 1, add.bytes.length - constraintBytes), `${name}: key bytes unchanged, constraints cut`)
    const fp = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`])).stdout.split(' ')[1]
    t.equal(fingerprint(parsed.key.blob), fp, `${name}: fingerprint as ssh-keygen -l prints it`)
  }
})

/** An ed25519 add built by hand (fields of the right shape, not a usable key). */
function ed25519Add(type: number, tail: Buffer): ReturnType<typeof makeFrame> {
  const body = Buffer.concat([wireString('ssh-ed25519'), wireString(Buffer.alloc(32, 1)), wireString(Buffer.alloc(64, 2)), wireString('c'), tail])
  return makeFrame(type, body)
}

t.test('constraints relaykit cannot enforce, or cannot read, are refused whole', async (t) => {
  const ext = (id: number, name: string) => Buffer.concat([Buffer.from([id]), wireString(name), wireString('data')])
  const refused: Record<string, Buffer> = {
    'restrict-destination-v00@openssh.com (id 255)': ext(255, 'restrict-destination-v00@openssh.com'),
    'an unknown extension (id 255)': ext(255, 'nosuch@example.com'),
    'the extension with the older id 3': ext(3, 'restrict-destination-v00@openssh.com'),
    "OpenSSH's maxsign (3 + uint32)": Buffer.from([3, 0, 0, 0, 9]),
    'an unknown constraint id': Buffer.from([7]),
    'a truncated lifetime': Buffer.from([1, 0, 0]),
    'two lifetimes': Buffer.from([1, 0, 0, 0, 5, 1, 0, 0, 0, 6]),
    'two confirms': Buffer.from([2, 2]),
    'an extension without its name': Buffer.from([255, 0, 0, 0, 40, 1]),
  }
  for (const [what, tail] of Object.entries(refused)) {
    t.throws(() => parseConstrainedAdd(ed25519Add(M.SSH_AGENTC_ADD_ID_CONSTRAINED, tail)), ConstraintError, what)
  }
  for (const id of [255, 3]) {
    t.throws(() => parseConstrainedAdd(ed25519Add(M.SSH_AGENTC_ADD_ID_CONSTRAINED, ext(id, 'restrict-destination-v00@openssh.com'))), /extension "restrict-destination-v00@openssh\.com" cannot be enforced/, `id ${id} is read as an extension, its name named in the refusal`)
  }
  t.throws(() => parseConstrainedAdd(makeFrame(M.SSH_AGENTC_ADD_ID_CONSTRAINED, Buffer.concat([wireString('ssh-ed448'), wireString('x'), wireString('c')]))), ConstraintError, 'a key type whose layout relaykit does not know')
  t.throws(() => parseConstrainedAdd(makeFrame(M.SSH_AGENTC_ADD_ID_CONSTRAINED, wireString('ssh-ed25519').subarray(0, 7))), ConstraintError, 'a truncated key type')
  const ok = parseConstrainedAdd(ed25519Add(M.SSH_AGENTC_ADD_ID_CONSTRAINED, Buffer.from([2, 1, 0, 0, 1, 0])))
  t.same(ok.constraints, { confirm: true, lifetimeSeconds: 256 }, 'confirm then lifetime, in either order')
  t.same(parseConstrainedAdd(ed25519Add(M.SSH_AGENTC_ADD_ID_CONSTRAINED, Buffer.alloc(0))).constraints, { confirm: false }, 'no constraints at all')
})

t.test('a smartcard add: reader id and PIN sent on as ADD_SMARTCARD_KEY, constraints kept', async (t) => {
  const head = Buffer.concat([wireString('/usr/lib/opensc-pkcs11.so'), wireString('123456')])
  const add = makeFrame(M.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED, Buffer.concat([head, Buffer.from([1]), wireUint32(60)]))
  const parsed = parseConstrainedAdd(add)
  t.equal(parsed.kind, 'smartcard')
  t.equal(parsed.unconstrained.type, M.SSH_AGENTC_ADD_SMARTCARD_KEY)
  t.same(parsed.unconstrained.bytes.subarray(HEADER_LEN + 1), head)
  t.same(parsed.constraints, { lifetimeSeconds: 60, confirm: false })
  t.throws(() => parseConstrainedAdd(makeFrame(M.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED, wireString('id'))), ConstraintError, 'no PIN')
})

t.test('a comment is flattened to one printable line before it reaches a prompt', async (t) => {
  t.equal(printableComment('me@host'), 'me@host')
  t.equal(printableComment('a\nAllow? yes\r\u001b[2J'), 'a?Allow? yes??[2J')
  t.equal(printableComment('x'.repeat(200)).length, 80)
  t.equal(printableComment('\u202eevil'), '?evil', 'no bidi override to reverse what follows')
})
