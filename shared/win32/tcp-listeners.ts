import { systemLibrary } from './kernel32.js'

/**
 * Which processes listen on a TCP port, from iphlpapi's GetExtendedTcpTable
 * (what `netstat -ano` shows): Windows' answer to Linux's /proc/net/tcp uid
 * column, one step further removed (a process id; its user comes from its
 * token, security.ts). Cygwin and libassuan clients send a secret to
 * whoever listens on the port a socket file names, and a port freed by a
 * crashed server may have been bound since by another user.
 */

const AF_INET = 2
const AF_INET6 = 23
const TCP_TABLE_OWNER_PID_LISTENER = 3
const NO_ERROR = 0
const ERROR_INSUFFICIENT_BUFFER = 122

// MIB_TCPTABLE_OWNER_PID: uint32 dwNumEntries, then rows of six uint32s:
//   dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr, dwRemotePort, dwOwningPid
// MIB_TCP6TABLE_OWNER_PID: uint32 dwNumEntries, then rows of 56 bytes:
//   ucLocalAddr[16], dwLocalScopeId, dwLocalPort, ucRemoteAddr[16],
//   dwRemoteScopeId, dwRemotePort, dwState, dwOwningPid
// A port is in network byte order in the low 16 bits of its uint32.
const ROW = {
  [AF_INET]: { size: 24, address: 4, addressLength: 4, port: 8, pid: 20 },
  [AF_INET6]: { size: 56, address: 0, addressLength: 16, port: 20, pid: 52 },
} as const

/** A listening socket: its local address (4 or 16 bytes), port and owning process. */
export interface TcpListener {
  address: Buffer
  port: number
  pid: number
}

type GetExtendedTcpTable = (table: Buffer | null, size: number[], order: number, family: number, tableClass: number, reserved: number) => number
let bound: Promise<GetExtendedTcpTable> | undefined

function bind(): Promise<GetExtendedTcpTable> {
  return (bound ??= systemLibrary('iphlpapi.dll').then((lib) => {
    const fn = lib.func('uint32_t __stdcall GetExtendedTcpTable(void *pTcpTable, _Inout_ uint32_t *pdwSize, int bOrder, uint32_t ulAf, int TableClass, uint32_t Reserved)')
    return (...args: Parameters<GetExtendedTcpTable>) => fn(...args) as number
  }))
}

/** Every listening TCP socket, IPv4 and IPv6, with its owning process. */
export async function tcpListeners(): Promise<TcpListener[]> {
  const get = await bind()
  const all: TcpListener[] = []
  for (const family of [AF_INET, AF_INET6] as const) {
    const table = readTable(get, family)
    if (table) all.push(...parseTcpTable(table, family))
  }
  return all
}

/** The raw table, grown until it fits (sockets come and go between calls); undefined without that family. */
function readTable(get: GetExtendedTcpTable, family: number): Buffer | undefined {
  const size = [0]
  for (let attempt = 0; attempt < 5; attempt++) {
    const table = size[0] ? Buffer.alloc(size[0]) : null
    const status = get(table, size, 0, family, TCP_TABLE_OWNER_PID_LISTENER, 0)
    if (status === NO_ERROR && table) return table
    if (status !== ERROR_INSUFFICIENT_BUFFER && status !== NO_ERROR) return undefined
  }
  throw new Error('GetExtendedTcpTable: the table kept growing')
}

/** The rows of a MIB_TCPTABLE_OWNER_PID (`family` AF_INET) or MIB_TCP6TABLE_OWNER_PID (AF_INET6). */
export function parseTcpTable(table: Buffer, family: 2 | 23): TcpListener[] {
  const row = ROW[family]
  const count = table.readUInt32LE(0)
  const rows: TcpListener[] = []
  for (let i = 0; i < count && 4 + (i + 1) * row.size <= table.length; i++) {
    const at = 4 + i * row.size
    rows.push({
      address: Buffer.from(table.subarray(at + row.address, at + row.address + row.addressLength)),
      port: table.readUInt16BE(at + row.port),
      pid: table.readUInt32LE(at + row.pid),
    })
  }
  return rows
}
