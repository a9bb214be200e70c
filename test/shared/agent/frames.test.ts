import t from 'tap'
import {
  AGENT_FAILURE,
  AGENT_FAILURE_FRAME,
  AGENT_MAX_LEN,
  AgentMessage,
  FrameError,
  FrameParser,
  checkLength,
  encodeFrame,
  frameOf,
  messageName,
} from '../../../shared/agent/frames.js'

const sample = [
  encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES),
  encodeFrame(AgentMessage.SSH_AGENTC_SIGN_REQUEST, Buffer.from('sign these bytes')),
  encodeFrame(AgentMessage.SSH_AGENT_SUCCESS),
  encodeFrame(AgentMessage.SSH_AGENTC_EXTENSION, Buffer.alloc(300, 7)),
]
const stream = Buffer.concat(sample)

t.test('encodes the wire layout', async (t) => {
  t.same([...AGENT_FAILURE_FRAME], [0, 0, 0, 1, 5])
  const f = encodeFrame(13, Buffer.from([1, 2, 3]))
  t.same([...f], [0, 0, 0, 4, 13, 1, 2, 3])
})

t.test('names every message number of RFC 9987 and authfd.h', async (t) => {
  t.equal(messageName(11), 'SSH_AGENTC_REQUEST_IDENTITIES')
  t.equal(messageName(27), 'SSH_AGENTC_EXTENSION')
  t.equal(messageName(28), 'SSH_AGENT_EXTENSION_FAILURE')
  t.equal(messageName(29), 'SSH_AGENT_EXTENSION_RESPONSE')
  t.equal(messageName(30), 'SSH2_AGENT_FAILURE')
  t.equal(messageName(102), 'SSH_COM_AGENT2_FAILURE')
  t.equal(messageName(200), 'UNKNOWN(200)')
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26]) {
    t.notMatch(messageName(n), /UNKNOWN/, `message ${n} has a name`)
  }
})

t.test('all messages in one chunk', async (t) => {
  const frames = new FrameParser().push(stream)
  t.same(frames.map((f) => f.type), [11, 13, 6, 27])
  t.same(Buffer.concat(frames.map((f) => f.bytes)), stream)
  t.same(frames.map((f) => f.length), sample.map((s) => s.length - 4))
})

t.test('split at every byte boundary, in two pieces', async (t) => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new FrameParser()
    const frames = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))]
    if (!Buffer.concat(frames.map((f) => f.bytes)).equals(stream)) {
      t.fail(`cut at ${cut} changed the stream`)
      return
    }
    t.equal(p.buffered, 0)
  }
  t.pass(`${stream.length + 1} cuts reassembled exactly`)
})

t.test('fed one byte at a time', async (t) => {
  const p = new FrameParser()
  const got = []
  for (const b of stream) got.push(...p.push(Buffer.from([b])))
  t.same(Buffer.concat(got.map((f) => f.bytes)), stream)
  t.same(got.map((f) => f.type), [11, 13, 6, 27])
})

t.test('length limit: exactly the maximum passes, one more fails before buffering', async (t) => {
  const max = encodeFrame(12, Buffer.alloc(AGENT_MAX_LEN - 1, 1))
  t.equal(max.readUInt32BE(0), AGENT_MAX_LEN)
  t.equal(new FrameParser().push(max).length, 1)

  const p = new FrameParser()
  const header = Buffer.alloc(4)
  header.writeUInt32BE(AGENT_MAX_LEN + 1)
  t.throws(() => p.push(header), FrameError)
  t.equal(p.buffered, 0, 'nothing kept after the error')
  t.throws(() => p.push(Buffer.from([1])), /already failed/)
})

t.test('a length of 2^32-1 is refused from the header alone', async (t) => {
  const p = new FrameParser()
  t.throws(() => p.push(Buffer.from([0xff, 0xff, 0xff, 0xff])), /exceeds the limit/)
})

t.test('a zero length is a protocol error', async (t) => {
  t.throws(() => new FrameParser().push(Buffer.from([0, 0, 0, 0])), /length 0/)
})

t.test('a custom limit', async (t) => {
  const p = new FrameParser({ maxLength: 8 })
  t.equal(p.push(encodeFrame(5, Buffer.alloc(7))).length, 1)
  t.throws(() => p.push(encodeFrame(5, Buffer.alloc(8))), /9 bytes exceeds the limit of 8/)
  t.throws(() => new FrameParser({ maxLength: 0 }), RangeError)
})

t.test('never holds more than one incomplete message', async (t) => {
  const p = new FrameParser()
  const big = encodeFrame(12, Buffer.alloc(AGENT_MAX_LEN - 1))
  let peak = 0
  for (let i = 0; i < big.length; i += 1000) {
    p.push(big.subarray(i, i + 1000))
    peak = Math.max(peak, p.buffered)
  }
  t.ok(peak < AGENT_MAX_LEN + 4, `peak ${peak} stays below the limit plus header`)
  t.equal(p.buffered, 0)
})

t.test('a bad length keeps the whole messages that came before it in the same chunk', async (t) => {
  const p = new FrameParser()
  const err = t.throws(() => p.push(Buffer.concat([sample[0] as Buffer, Buffer.from([0xff, 0, 0, 0])]))) as FrameError
  t.type(err, FrameError)
  t.same(err.complete.map((f) => f.type), [11])
})

t.test('frameOf and checkLength: the one validator for whole messages and length fields', async (t) => {
  const f = frameOf(encodeFrame(AgentMessage.SSH_AGENT_SUCCESS))
  t.same([f.type, f.length], [AgentMessage.SSH_AGENT_SUCCESS, 1])
  t.throws(() => frameOf(Buffer.from([0, 0, 0, 1])), /too short/)
  t.throws(() => frameOf(Buffer.from([0, 0, 0, 9, 12])), /claims 9 bytes but carries 1/)
  t.throws(() => frameOf(Buffer.from([0, 0, 0, 0, 12])), /length 0/)
  t.throws(() => frameOf(encodeFrame(12, Buffer.alloc(10)), 5), /exceeds the limit of 5 bytes/)
  t.doesNotThrow(() => checkLength(AGENT_MAX_LEN, AGENT_MAX_LEN))
  t.throws(() => checkLength(AGENT_MAX_LEN + 1, AGENT_MAX_LEN), FrameError)
  t.same(AGENT_FAILURE.bytes, AGENT_FAILURE_FRAME)
})
