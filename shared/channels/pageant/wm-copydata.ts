import { randomBytes } from 'node:crypto'
import { AGENT_MAX_LEN, type AgentFrame, HEADER_LEN, checkLength, frameOf } from '../../agent/frames.js'
import { ExitCode } from '../../exit-codes.js'
import { RelayError, messageOf } from '../../relay-error.js'
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

/** The mapping holds a whole message, length prefix included: PuTTY's AGENT_MAX_MSGLEN. */
export const MAPPING_SIZE = AGENT_MAX_LEN

/** The largest length field that fits the mapping. */
export const COPYDATA_MAX_LEN = MAPPING_SIZE - HEADER_LEN

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

/** Pageant's window (class and title "Pageant"), or undefined when it is not running. */
export async function pageantWindow(): Promise<unknown> {
  const { findWindow } = await import('../../win32/window-messages.js')
  return (await findWindow('Pageant', 'Pageant')) || undefined
}

/** Send one request to the Pageant window `hwnd`; resolves to its whole answer. */
export async function queryByCopyData(hwnd: unknown, request: AgentFrame, timeoutMs: number): Promise<AgentFrame> {
  const [{ createSharedMemory }, { sendCopyData }] = await Promise.all([
    import('../../win32/file-mapping.js'),
    import('../../win32/window-messages.js'),
  ])
  if (request.length > COPYDATA_MAX_LEN) {
    throw new RelayError(`a request of ${request.length} bytes does not fit Pageant's ${MAPPING_SIZE}-byte mapping`, ExitCode.PROTOCOL)
  }
  const memory = await createSharedMemory(uniqueMappingName(), MAPPING_SIZE)
  try {
    memory.write(request.bytes)
    const sent = await sendCopyData(hwnd, AGENT_COPYDATA_ID, memory.name, timeoutMs)
    if (!sent.delivered) {
      throw sent.error === WIN32.TIMEOUT
        ? new RelayError(`Pageant did not answer within ${timeoutMs} ms`, ExitCode.TIMEOUT)
        : new RelayError(`WM_COPYDATA to Pageant failed (error ${sent.error})`, ExitCode.ERROR)
    }
    if (sent.result === 0 || sent.result === 0n) {
      throw new RelayError('Pageant refused the request (it answers 0 when the mapping or message is not acceptable)', ExitCode.REFUSED)
    }
    // The claimed length is checked before that much is read.
    const length = memory.read(HEADER_LEN).readUInt32BE(0)
    try {
      checkLength(length, COPYDATA_MAX_LEN)
      return frameOf(memory.read(HEADER_LEN + length), COPYDATA_MAX_LEN)
    } catch (err) {
      throw new RelayError(`Pageant's answer is not a message: ${messageOf(err)}`, ExitCode.PROTOCOL)
    }
  } finally {
    memory.close()
  }
}
