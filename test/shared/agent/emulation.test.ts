/**
 * The emulation's bookkeeping where no real agent at hand can play the part:
 * a smartcard add (no PKCS#11 token here) whose keys are found by listing
 * before and after, constraints that end when the key is re-added plain or
 * removed, and a lifetime timer that outlives its connection. The agent is
 * an in-memory key set answering as ssh-agent does.
 */
import { PassThrough } from 'node:stream'
import t from 'tap'
import { EmulatedAgent } from '../../../shared/agent/emulated-agent.js'
import { withEmulation } from '../../../shared/agent/emulation.js'
import { type AgentFrame, AgentMessage, HEADER_LEN, makeFrame } from '../../../shared/agent/frames.js'
import { identitiesAnswer, keyBlobOf } from '../../../shared/agent/identities.js'
import { markSharedProcess } from '../../../shared/agent/process-scope.js'
import { wireString, wireUint32 } from '../../../shared/agent/wire-reader.js'
import { createLog } from '../../../shared/log.js'

const M = AgentMessage
markSharedProcess()

/** An agent holding keys by blob; a smartcard add adds `cardKeys`. */
function keySet(cardKeys: Buffer[]) {
  const keys = new Map<string, Buffer>()
  const asked: number[] = []
  const query = async (request: AgentFrame): Promise<AgentFrame> => {
    asked.push(request.type)
    const ok = makeFrame(M.SSH_AGENT_SUCCESS)
    switch (request.type) {
      case M.SSH_AGENTC_REQUEST_IDENTITIES:
        return identitiesAnswer([...keys.values()].map((blob) => ({ blob, comment: 'card key' })))
      case M.SSH_AGENTC_ADD_SMARTCARD_KEY:
        cardKeys.forEach((k) => keys.set(k.toString('hex'), k))
        return ok
      case M.SSH_AGENTC_ADD_IDENTITY: {
        const blob = Buffer.concat([wireString('ssh-ed25519'), wireString(request.bytes.subarray(HEADER_LEN + 1 + 15 + 4, HEADER_LEN + 1 + 15 + 4 + 32))])
        keys.set(blob.toString('hex'), blob)
        return ok
      }
      case M.SSH_AGENTC_REMOVE_IDENTITY:
        return keys.delete((keyBlobOf(request) as Buffer).toString('hex')) ? ok : makeFrame(M.SSH_AGENT_FAILURE)
      case M.SSH_AGENTC_REMOVE_ALL_IDENTITIES:
        keys.clear()
        return ok
      case M.SSH_AGENTC_SIGN_REQUEST:
        return makeFrame(M.SSH_AGENT_SIGN_RESPONSE, wireString('signature'))
      default:
        return makeFrame(M.SSH_AGENT_FAILURE)
    }
  }
  return { keys, asked, query }
}

function setup(cardKeys: Buffer[] = []) {
  const agent = keySet(cardKeys)
  const state = new EmulatedAgent(() => ({ query: agent.query, close() {} }))
  const options = { constraints: true, lock: false, confirm: 'off' as const, confirmTimeoutMs: 1000, askpass: undefined }
  // No askpass and no SSH_ASKPASS: a question gets no yes.
  const session = () => withEmulation(agent.query, { options, agent: state, log: createLog(new PassThrough(), 't', false), env: {} })
  return { agent, state, session }
}

const ed25519 = (n: number) => Buffer.alloc(32, n)
const blobOf = (pk: Buffer) => Buffer.concat([wireString('ssh-ed25519'), wireString(pk)])
const keyAdd = (type: number, pk: Buffer, tail = Buffer.alloc(0)) =>
  makeFrame(type, Buffer.concat([wireString('ssh-ed25519'), wireString(pk), wireString(Buffer.alloc(64)), wireString('c'), tail]))
const sign = (blob: Buffer) => makeFrame(M.SSH_AGENTC_SIGN_REQUEST, Buffer.concat([wireString(blob), wireString('data'), wireUint32(0)]))
const LIFETIME = (s: number) => Buffer.concat([Buffer.from([1]), wireUint32(s)])
const CONFIRM = Buffer.from([2])

t.test('a constrained smartcard add: the keys that appeared get the constraints', async (t) => {
  const card = [blobOf(ed25519(7)), blobOf(ed25519(8))]
  const { agent, state, session } = setup(card)
  const before = blobOf(ed25519(1))
  agent.keys.set(before.toString('hex'), before)
  const add = makeFrame(M.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED, Buffer.concat([wireString('/lib/pkcs11.so'), wireString('1234'), CONFIRM]))
  t.equal((await session()(add)).type, M.SSH_AGENT_SUCCESS)
  t.same(agent.asked, [M.SSH_AGENTC_REQUEST_IDENTITIES, M.SSH_AGENTC_ADD_SMARTCARD_KEY, M.SSH_AGENTC_REQUEST_IDENTITIES])
  t.same(state.constrained.map((b) => b.toString('hex')).sort(), card.map((b) => b.toString('hex')).sort(), 'exactly the card keys')
  t.equal((await session()(sign(card[0] as Buffer))).type, M.SSH_AGENT_FAILURE, 'a card key asks (and nobody can say yes)')
  t.equal((await session()(sign(before))).type, M.SSH_AGENT_SIGN_RESPONSE, 'the key that was there before does not ask')
})

t.test('constraints end with the key: re-added plain, removed, removed all', async (t) => {
  const { state, session } = setup()
  const s = session()
  for (const n of [1, 2, 3]) t.equal((await s(keyAdd(M.SSH_AGENTC_ADD_ID_CONSTRAINED, ed25519(n), CONFIRM))).type, M.SSH_AGENT_SUCCESS)
  t.equal(state.constrained.length, 3)
  await s(keyAdd(M.SSH_AGENTC_ADD_IDENTITY, ed25519(1)))
  t.notOk(state.needsConfirm(blobOf(ed25519(1))), 're-added without constraints: no more confirm, as in ssh-agent')
  await s(makeFrame(M.SSH_AGENTC_REMOVE_IDENTITY, wireString(blobOf(ed25519(2)))))
  t.notOk(state.needsConfirm(blobOf(ed25519(2))), 'removed: forgotten')
  t.ok(state.needsConfirm(blobOf(ed25519(3))))
  await s(makeFrame(M.SSH_AGENTC_REMOVE_ALL_IDENTITIES))
  t.same(state.constrained, [], 'remove all: everything forgotten')
})

t.test('a lifetime outlives the connection that set it and removes the key with a connection of its own', async (t) => {
  const { agent, session } = setup()
  const pk = ed25519(9)
  t.equal((await session()(keyAdd(M.SSH_AGENTC_ADD_ID_CONSTRAINED, pk, LIFETIME(1)))).type, M.SSH_AGENT_SUCCESS)
  t.ok(agent.keys.has(blobOf(pk).toString('hex')), 'added')
  await new Promise((r) => setTimeout(r, 1300))
  t.notOk(agent.keys.has(blobOf(pk).toString('hex')), 'removed after 1 s')
  t.equal(agent.asked.at(-1), M.SSH_AGENTC_REMOVE_IDENTITY)
})

t.test('a key removed before its lifetime ends is not removed again, nor is its successor', async (t) => {
  const { agent, session } = setup()
  const pk = ed25519(4)
  const s = session()
  await s(keyAdd(M.SSH_AGENTC_ADD_ID_CONSTRAINED, pk, LIFETIME(1)))
  await s(keyAdd(M.SSH_AGENTC_ADD_IDENTITY, pk))
  await new Promise((r) => setTimeout(r, 1300))
  t.ok(agent.keys.has(blobOf(pk).toString('hex')), 're-added without a lifetime: it stays')
  t.notOk(agent.asked.includes(M.SSH_AGENTC_REMOVE_IDENTITY))
})

t.test('the emulation flags: their values, defaults and mistakes', async (t) => {
  const { parseEmulation, emulationActive } = await import('../../../shared/agent/emulation-options.js')
  const none = parseEmulation({})
  t.same(none, { constraints: false, lock: false, confirm: 'off', confirmTimeoutMs: 30_000, askpass: undefined }, 'defaults: nothing emulated, 30 s to answer')
  t.notOk(emulationActive(none))
  const all = parseEmulation({ constraints: 'emulate', lock: 'emulate', confirm: 'forwarded-sign', 'confirm-timeout': '2.5', askpass: '/bin/ask' })
  t.same(all, { constraints: true, lock: true, confirm: 'forwarded-sign', confirmTimeoutMs: 2500, askpass: '/bin/ask' })
  t.ok(emulationActive(parseEmulation({ confirm: 'sign' })), '--confirm alone implies agent mode')
  t.throws(() => parseEmulation({ constraints: 'pass' }), /-constraints: "pass" is not one of emulate/)
  t.throws(() => parseEmulation({ lock: true }), /-lock/)
  t.throws(() => parseEmulation({ confirm: 'always' }), /-confirm: "always" is not one of off, sign, forwarded-sign/)
  t.throws(() => parseEmulation({ 'confirm-timeout': '0' }), /-confirm-timeout/)
})
