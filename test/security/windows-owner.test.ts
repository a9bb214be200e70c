/**
 * Windows owner checks for what relay-listen finds already served and what
 * Cygwin/libassuan clients connect to, mirroring the Linux uid checks
 * (test/security/port-owner.test.ts with a real second uid):
 * - a 127.0.0.1 port: GetExtendedTcpTable's owning process → its token
 *   user. Wine reports process id 0 for every socket (seen: a node.exe
 *   listener of ours and a Linux socat alike), so the rule is tested here on
 *   the table as Windows fills it; the table's parsing on bytes laid out as
 *   iphlpapi.h says.
 * - an AF_UNIX socket file: its owner SID. Wine has no AF_UNIX, so
 *   af-unix.ts runs against the in-memory Winsock with a socket file that
 *   another user's SID owns.
 */
import t from 'tap'
import { listenAfUnix } from '../../shared/channels/af-unix/af-unix.js'
import { foreignListener, trustedOwnerSid } from '../../shared/channels/owner.js'
import { ExitCode } from '../../shared/exit-codes.js'
import { parseTcpTable } from '../../shared/win32/tcp-listeners.js'
import { FakeWinsock } from '../fixtures/fake-af-unix.js'

const ME = 'S-1-5-21-1004336348-1177238915-682003330-1000'
const OTHER = 'S-1-5-21-1004336348-1177238915-682003330-1001'
const LOOPBACK = Buffer.from([127, 0, 0, 1])
const ANY = Buffer.alloc(4)
const LAN = Buffer.from([192, 168, 1, 5])
const users: Record<number, string | undefined> = { 100: ME, 200: OTHER, 300: undefined, 4: 'S-1-5-18' }
const userOf = async (pid: number) => users[pid]

t.test('port owners: ours and the system pass; another user, or a process we may not read, is named', async (t) => {
  const at = (address: Buffer, pid: number) => [{ address, port: 40000, pid }]
  t.equal(await foreignListener(40000, at(LOOPBACK, 100), userOf, ME), undefined, 'our own listener')
  t.equal(await foreignListener(40000, at(ANY, 4), userOf, ME), undefined, 'SYSTEM on 0.0.0.0')
  t.equal(await foreignListener(40000, at(LOOPBACK, 200), userOf, ME), OTHER, "another user's listener on 127.0.0.1")
  t.equal(await foreignListener(40000, at(ANY, 200), userOf, ME), OTHER, "another user's listener on 0.0.0.0 (127.0.0.1 lands there)")
  t.equal(await foreignListener(40000, at(LOOPBACK, 300), userOf, ME), 'process 300 (whose user we may not read)', 'a process whose token we may not read')
  t.equal(await foreignListener(40000, at(LAN, 200), userOf, ME), undefined, 'another address: 127.0.0.1 does not land there')
  t.equal(await foreignListener(40001, at(LOOPBACK, 200), userOf, ME), undefined, 'another port')
  t.equal(await foreignListener(40000, at(LOOPBACK, 0), userOf, ME), undefined, 'process id 0 (Wine): cannot tell')
  t.equal(await foreignListener(40000, [...at(LOOPBACK, 100), ...at(ANY, 200)], userOf, ME), OTHER, 'ours and another user\'s: the other is named')
})

t.test('owner SIDs: the user, SYSTEM and Administrators are ours; nobody else is', async (t) => {
  for (const sid of [ME, 'SY', 'S-1-5-18', 'BA', 'S-1-5-32-544']) t.ok(trustedOwnerSid(sid, ME), sid)
  for (const sid of [OTHER, 'BU', 'WD', 'AU', '', `${ME}0`]) t.notOk(trustedOwnerSid(sid, ME), sid || '(none)')
})

t.test('GetExtendedTcpTable rows (TCP_TABLE_OWNER_PID_LISTENER), IPv4 and IPv6', async (t) => {
  const v4 = Buffer.alloc(4 + 2 * 24)
  v4.writeUInt32LE(2, 0)
  for (const [i, [addr, port, pid]] of ([[LOOPBACK, 40000, 1234], [ANY, 22, 4]] as const).entries()) {
    const at = 4 + i * 24
    v4.writeUInt32LE(2, at) // MIB_TCP_STATE_LISTEN
    addr.copy(v4, at + 4)
    v4.writeUInt16BE(port, at + 8) // network byte order in the low bytes
    v4.writeUInt32LE(pid, at + 20)
  }
  t.same(parseTcpTable(v4, 2), [
    { address: LOOPBACK, port: 40000, pid: 1234 },
    { address: ANY, port: 22, pid: 4 },
  ])
  const v6 = Buffer.alloc(4 + 56)
  v6.writeUInt32LE(1, 0)
  const mapped = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1])
  mapped.copy(v6, 4)
  v6.writeUInt16BE(40000, 4 + 20)
  v6.writeUInt32LE(2, 4 + 48)
  v6.writeUInt32LE(777, 4 + 52)
  t.same(parseTcpTable(v6, 23), [{ address: mapped, port: 40000, pid: 777 }])
  t.same(parseTcpTable(Buffer.from([5, 0, 0, 0]), 2), [], 'a count larger than the buffer: no row read past its end')
})

const PATH = 'C:\\Users\\Public\\agent.sock'

t.test("relay-listen on an AF_UNIX socket file another user owns: exit 4 naming the SID, not 'already served'; not removed", async (t) => {
  for (const live of [true, false]) {
    const fake = new FakeWinsock()
    if (live) {
      const own = await listenAfUnix(PATH, () => {}, fake.host)
      t.ok('server' in own, 'a listener is there')
    } else fake.leaveStaleFile(PATH)
    fake.foreignOwners.set(PATH, OTHER)
    const before = fake.calls.length
    await t.rejects(listenAfUnix(PATH, () => t.fail('no connection'), fake.host), {
      message: new RegExp(`already served, by an AF_UNIX socket file of ${OTHER}, not by you`),
      exitCode: ExitCode.REFUSED,
    }, live ? 'live' : 'stale')
    t.notOk(fake.calls.slice(before).includes(`remove ${PATH}`), `${live ? 'live' : 'stale'}: the file was not removed`)
    t.notOk(fake.calls.slice(before).some((c) => c.startsWith('connect')), `${live ? 'live' : 'stale'}: nothing was sent to it`)
    t.equal(fake.open, live ? 1 : 0, 'no socket of ours left open but the first listener')
  }
})

t.test('control: our own live AF_UNIX socket is already served', async (t) => {
  const fake = new FakeWinsock()
  await listenAfUnix(PATH, () => {}, fake.host)
  t.same(await listenAfUnix(PATH, () => {}, fake.host), { alreadyServed: true })
})
