import { randomBytes } from 'node:crypto'
import { AGENT_MAX_LEN, HEADER_LEN } from '../../agent/frames.js'
import { ExitCode } from '../../exit-codes.js'
import { RelayError } from '../../relay-error.js'
import { WIN32 } from '../../win32/errors.js'

/**
 * Pageant's original channel (PuTTY ≤ 0.74 clients, WinSCP, FileZilla,
 * KeeAgent …): put the request in a named file mapping, send the mapping's
 * name to the window of class "Pageant" in a WM_COPYDATA message tagged
 * AGENT_COPYDATA_ID, read the answer from the same mapping.
 *
 *     mapping (AGENT_MAX_MSGLEN = 256 KiB since PuTTY 0.71)
 *     +---------------------------+-------------------------+
 *     | uint32 BE length | type … |  (request, then answer)  |
 *     +---------------------------+-------------------------+
 *     COPYDATASTRUCT { dwData = 0x804e50ba, cbData = strlen(name)+1, lpData = name }
 *
 * Pageant answers nonzero when it wrote an answer. It refuses mappings that
 * are not owned by its own user SID (see shared/win32/security.ts).
 */

/** PuTTY's AGENT_COPYDATA_ID. */
export const AGENT_COPYDATA_ID = 0x804e50ba

let sequence = 0

/**
 * A mapping name no other request will use: the Go bridges use one fixed name
 * and a mutex, which serialises every relay on the machine, or break when two
 * run at once.
 */
export function uniqueMappingName(pid = process.pid): string {
  sequence = (sequence + 1) >>> 0
  return `relaykit-pageant-${pid}-${sequence}-${randomBytes(4).toString('hex')}`
}

/** Is a Pageant window there? */
export async function pageantWindow(): Promise<unknown> {
  const { findWindow } = await import('../../win32/window-messages.js')
  return findWindow('Pageant', 'Pageant')
}

/** Send one request (a whole agent message) to Pageant; resolves to its whole answer. */
export async function queryByCopyData(request: Buffer, timeoutMs: number): Promise<Buffer> {
  const [{ createSharedMemory }, { sendCopyData }] = await Promise.all([
    import('../../win32/file-mapping.js'),
    import('../../win32/window-messages.js'),
  ])
  if (request.length > AGENT_MAX_LEN) throw new RelayError('request larger than Pageant accepts', ExitCode.PROTOCOL)
  const hwnd = await pageantWindow()
  if (!hwnd) throw new RelayError('Pageant is not running: no window of class Pageant', ExitCode.UNAVAILABLE)
  const memory = await createSharedMemory(uniqueMappingName(), AGENT_MAX_LEN)
  try {
    memory.write(request)
    const sent = await sendCopyData(hwnd, AGENT_COPYDATA_ID, memory.name, timeoutMs)
    if (!sent.delivered) {
      const timedOut = sent.error === WIN32.TIMEOUT
      throw new RelayError(
        timedOut ? `Pageant did not answer within ${timeoutMs} ms` : `WM_COPYDATA to Pageant failed (error ${sent.error})`,
        timedOut ? ExitCode.TIMEOUT : ExitCode.ERROR,
      )
    }
    if (sent.result === 0 || sent.result === 0n) {
      throw new RelayError('Pageant refused the request (it answers 0 when the mapping or message is not acceptable)', ExitCode.REFUSED)
    }
    // Validate the claimed length before reading that much.
    const length = memory.read(HEADER_LEN).readUInt32BE(0)
    if (length < 1 || length > AGENT_MAX_LEN - HEADER_LEN) {
      throw new RelayError(`Pageant's answer claims ${length} bytes, outside 1..${AGENT_MAX_LEN - HEADER_LEN}`, ExitCode.PROTOCOL)
    }
    return memory.read(HEADER_LEN + length)
  } finally {
    memory.close()
  }
}
