/**
 * Pageant's checks of a WM_COPYDATA mapping (mapping-request.ts) on an
 * in-memory mapping, every branch: who may own it, how small it may be,
 * which lengths reach the upstream and which are answered FAILURE, an
 * answer too big for the mapping. Under Wine, the same rules are held to
 * the real Pageant's (test/relays/relay-listen/pageant-server-input.test.ts).
 */
import t from 'tap'
import { AGENT_FAILURE, type AgentFrame, encodeFrame, frameOf } from '../../../../shared/agent/frames.js'
import { type MappingPeer, answerMapping } from '../../../../shared/channels/pageant/mapping-request.js'
import type { OpenedMapping } from '../../../../shared/win32/file-mapping.js'

const USER = 'S-1-5-21-1-2-3-1000'
const FAILURE_HEX = '0000000105'

/** `owner` null: a mapping with no owner. */
function mapping(size: number, head: number[], owner: string | null = USER): OpenedMapping & { memory: Buffer; closed: boolean } {
  const memory = Buffer.alloc(size)
  Buffer.from(head).copy(memory)
  return {
    name: 'm',
    size,
    owner: owner ?? undefined,
    memory,
    closed: false,
    write(bytes) {
      if (bytes.length > size) throw new RangeError('write beyond the mapping')
      bytes.copy(memory)
    },
    read(length) {
      if (length > size) throw new RangeError('read beyond the mapping')
      return Buffer.from(memory.subarray(0, length))
    },
    close() {
      this.closed = true
    },
  }
}

function peer(m: OpenedMapping, answer: (r: AgentFrame) => AgentFrame = () => frameOf(encodeFrame(12, Buffer.alloc(4)))): MappingPeer & { asked: AgentFrame[] } {
  const asked: AgentFrame[] = []
  return {
    asked,
    open: async () => m,
    trustedOwners: async () => [USER, 'BA'],
    ask: async (r) => {
      asked.push(r)
      return answer(r)
    },
  }
}

t.test('a good request goes to the upstream and its answer replaces it', async (t) => {
  const m = mapping(4096, [0, 0, 0, 1, 11])
  const p = peer(m)
  t.equal(await answerMapping('m', p), undefined)
  t.same(p.asked.map((f) => f.type), [11])
  t.equal(m.memory.subarray(0, 9).toString('hex'), '000000050c00000000')
  t.ok(m.closed, 'the mapping is closed')
})

t.test('owners: the user and the token default owner are trusted, others and none refused', async (t) => {
  t.equal(await answerMapping('m', peer(mapping(4096, [0, 0, 0, 1, 11], 'BA'))), undefined, "the token's default owner")
  for (const owner of ['S-1-5-18', null]) {
    const m = mapping(4096, [0, 0, 0, 1, 11], owner)
    const p = peer(m)
    t.match(await answerMapping('m', p), /wrong owning SID/, `owner ${owner ?? 'none'} refused`)
    t.same(p.asked, [], 'nothing asked')
    t.equal(m.memory.subarray(0, 5).toString('hex'), '000000010b', 'the mapping untouched')
    t.ok(m.closed)
  }
})

t.test('a mapping smaller than a length and a type byte is refused', async (t) => {
  t.match(await answerMapping('m', peer(mapping(4, [0, 0, 0, 1]))), /smaller than the smallest request/)
})

t.test('lengths that cannot be carried: FAILURE, upstream not asked', async (t) => {
  const cases: [string, number, number[]][] = [
    ['0', 4096, [0, 0, 0, 0, 11]],
    ['beyond the mapping', 4096, [0, 0, 0x10, 0, 11]],
    ['2^32-1', 4096, [0xff, 0xff, 0xff, 0xff, 11]],
    ['over 256 KiB in a bigger mapping', 512 * 1024, [0, 4, 0, 0, 11]],
  ]
  for (const [label, size, head] of cases) {
    const m = mapping(size, head)
    const p = peer(m)
    t.equal(await answerMapping('m', p), undefined, `${label}: answered`)
    t.equal(m.memory.subarray(0, 5).toString('hex'), FAILURE_HEX, `${label}: SSH_AGENT_FAILURE`)
    t.same(p.asked, [], `${label}: upstream not asked`)
  }
  const exact = mapping(4096, [0, 0, 0x0f, 0xfc, 11])
  const p = peer(exact)
  await answerMapping('m', p)
  t.same(p.asked.map((f) => f.length), [4092], 'a length that exactly fills the mapping is carried')
})

t.test('an answer that does not fit the mapping becomes FAILURE', async (t) => {
  const m = mapping(16, [0, 0, 0, 1, 11])
  await answerMapping('m', peer(m, () => frameOf(encodeFrame(12, Buffer.alloc(100)))))
  t.equal(m.memory.subarray(0, 5).toString('hex'), FAILURE_HEX)
  const failing = mapping(4096, [0, 0, 0, 1, 11])
  await answerMapping('m', peer(failing, () => AGENT_FAILURE))
  t.equal(failing.memory.subarray(0, 5).toString('hex'), FAILURE_HEX, "the upstream's FAILURE passes through")
})

t.test('a mapping that cannot be opened is refused', async (t) => {
  const p: MappingPeer = { open: async () => Promise.reject(new Error('OpenFileMapping(m) failed (error 2)')), trustedOwners: async () => [USER], ask: async () => AGENT_FAILURE }
  t.match(await answerMapping('m', p), /cannot open the mapping: .*error 2/)
})
