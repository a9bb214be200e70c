/**
 * The Win32 and Winsock error numbers relaykit tells apart, and the one map
 * from them to the `code` Node code expects (`EPIPE`, `ECONNRESET` …), so a
 * pipe, a socket and a pump all treat the same failure the same way.
 *
 * Two families: GetLastError and overlapped completions (whose NTSTATUS
 * RtlNtStatusToDosError turns into these, as GetOverlappedResult does) give `ERROR_*`
 * numbers (winerror.h); Winsock's own calls give `WSAE*` numbers through
 * WSAGetLastError. The numbers do not overlap, so one map takes both. Pure
 * data: importing this module loads no koffi.
 */

/** Win32 system errors (winerror.h): `WIN32.X` is `ERROR_X`. */
export const WIN32 = {
  FILE_NOT_FOUND: 2,
  PATH_NOT_FOUND: 3,
  ACCESS_DENIED: 5,
  FILE_EXISTS: 80,
  GEN_FAILURE: 31,
  NETNAME_DELETED: 64,
  BROKEN_PIPE: 109,
  INVALID_NAME: 123,
  BAD_PATHNAME: 161,
  ALREADY_EXISTS: 183,
  FILENAME_EXCED_RANGE: 206,
  PIPE_BUSY: 231,
  NO_DATA: 232,
  PIPE_NOT_CONNECTED: 233,
  PIPE_CONNECTED: 535,
  OPERATION_ABORTED: 995,
  IO_PENDING: 997,
  CONNECTION_REFUSED: 1225,
  CONNECTION_ABORTED: 1236,
  /** A read or write of a socket that is not connected (STATUS_INVALID_CONNECTION). */
  CONNECTION_INVALID: 1229,
  /** SendMessageTimeout gave up waiting. */
  TIMEOUT: 1460,
} as const

/** Winsock errors (WSAGetLastError): `WSA.X` is `WSAX`. */
export const WSA = {
  EINTR: 10004,
  EACCES: 10013,
  EINVAL: 10022,
  EWOULDBLOCK: 10035,
  ENOTSOCK: 10038,
  EAFNOSUPPORT: 10047,
  EADDRINUSE: 10048,
  ENETDOWN: 10050,
  ECONNABORTED: 10053,
  ECONNRESET: 10054,
  ENOTCONN: 10057,
  ESHUTDOWN: 10058,
  ETIMEDOUT: 10060,
  ECONNREFUSED: 10061,
  NOTINITIALISED: 10093,
} as const

/** A pipe's other end is gone: EOF when reading from it, EPIPE when writing to it. */
export const PIPE_GONE: ReadonlySet<number> = new Set([WIN32.BROKEN_PIPE, WIN32.NO_DATA, WIN32.PIPE_NOT_CONNECTED])

/**
 * The Node code of each error that has one. A cancelled operation (ours, or
 * an interrupted blocking call) is `ECANCELED`, so callers can tell it from
 * a failure.
 */
const NODE_CODES: Readonly<Record<string, readonly number[]>> = {
  EPIPE: [...PIPE_GONE, WSA.ESHUTDOWN],
  ECONNRESET: [WSA.ECONNRESET, WSA.ECONNABORTED, WIN32.NETNAME_DELETED, WIN32.CONNECTION_ABORTED],
  ENOTCONN: [WSA.ENOTCONN, WIN32.CONNECTION_INVALID],
  ECONNREFUSED: [WSA.ECONNREFUSED, WIN32.CONNECTION_REFUSED],
  EACCES: [WSA.EACCES, WIN32.ACCESS_DENIED],
  EEXIST: [WIN32.FILE_EXISTS],
  ENOENT: [WIN32.FILE_NOT_FOUND],
  EADDRINUSE: [WSA.EADDRINUSE],
  EAFNOSUPPORT: [WSA.EAFNOSUPPORT],
  ETIMEDOUT: [WSA.ETIMEDOUT],
  ECANCELED: [WSA.EINTR, WSA.ENOTSOCK, WIN32.OPERATION_ABORTED],
}

const codeOf = new Map(Object.entries(NODE_CODES).flatMap(([code, errors]) => errors.map((e) => [e, code] as const)))

/** What a Win32 or Winsock error means to Node code (`err.code`); `EIO` for anything not in the table. */
export function nodeErrorCode(winError: number): string {
  return codeOf.get(winError) ?? 'EIO'
}
