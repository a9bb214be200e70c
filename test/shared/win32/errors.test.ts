/**
 * shared/win32/errors.ts: the one map from Win32 and Winsock error numbers
 * to Node codes, which the named-pipe server and the AF_UNIX sockets share.
 * Pure; under Wine the codes are seen end to end in pipe-server.test.ts.
 */
import t from 'tap'
import { nodeErrorCode, PIPE_GONE, WIN32, WSA } from '../../../shared/win32/errors.js'

t.test('the two families do not share a number, so one map can take both', async (t) => {
  const win32 = new Set<number>(Object.values(WIN32))
  const shared = Object.values(WSA).filter((n) => win32.has(n))
  t.same(shared, [])
})

t.test('a pipe whose other end is gone is EPIPE, as a socket shut down for sending', async (t) => {
  t.same([...PIPE_GONE].sort(), [WIN32.BROKEN_PIPE, WIN32.NO_DATA, WIN32.PIPE_NOT_CONNECTED].sort())
  for (const e of [...PIPE_GONE, WSA.ESHUTDOWN]) t.equal(nodeErrorCode(e), 'EPIPE', String(e))
})

t.test('each error Node code tells apart, from either family', async (t) => {
  const cases: [number, string][] = [
    [WSA.ECONNRESET, 'ECONNRESET'],
    [WSA.ECONNABORTED, 'ECONNRESET'],
    [WIN32.NETNAME_DELETED, 'ECONNRESET'],
    [WIN32.CONNECTION_ABORTED, 'ECONNRESET'],
    [WSA.ENOTCONN, 'ENOTCONN'],
    [WSA.ECONNREFUSED, 'ECONNREFUSED'],
    [WIN32.CONNECTION_REFUSED, 'ECONNREFUSED'],
    [WSA.EACCES, 'EACCES'],
    [WIN32.ACCESS_DENIED, 'EACCES'],
    [WSA.EADDRINUSE, 'EADDRINUSE'],
    [WSA.EAFNOSUPPORT, 'EAFNOSUPPORT'],
    [WSA.ETIMEDOUT, 'ETIMEDOUT'],
    [WSA.EINTR, 'ECANCELED'],
    [WSA.ENOTSOCK, 'ECANCELED'],
    [WIN32.OPERATION_ABORTED, 'ECANCELED'],
  ]
  for (const [error, code] of cases) t.equal(nodeErrorCode(error), code, `${error} is ${code}`)
})

t.test('anything else is EIO, including the statuses that are not failures', async (t) => {
  for (const e of [0, WIN32.IO_PENDING, WIN32.PIPE_BUSY, WIN32.TIMEOUT, WSA.ENETDOWN, 99999]) t.equal(nodeErrorCode(e), 'EIO', String(e))
})
