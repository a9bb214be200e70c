import { koffi } from './koffi.js'

/**
 * dpapi CryptProtectMemory, used by PuTTY to derive Pageant's pipe name from
 * a per-boot secret, so other sessions on the machine cannot guess it.
 * (Wine's implementation leaves the data unchanged; Windows encrypts it.)
 */

const CRYPTPROTECTMEMORY_BLOCK_SIZE = 16
const CRYPTPROTECTMEMORY_CROSS_PROCESS = 0x1

/** Encrypt `block` (a multiple of 16 bytes) for every process of this boot; returns a new buffer. */
export async function cryptProtectCrossProcess(block: Buffer): Promise<Buffer> {
  if (block.length % CRYPTPROTECTMEMORY_BLOCK_SIZE !== 0) throw new RangeError('CryptProtectMemory wants whole 16-byte blocks')
  const ffi = await koffi()
  const crypt32 = ffi.load('crypt32.dll')
  const CryptProtectMemory = crypt32.func('int __stdcall CryptProtectMemory(uint8_t *pDataIn, uint32_t cbDataIn, uint32_t dwFlags)')
  const data = Buffer.from(block)
  if (!CryptProtectMemory(data, data.length, CRYPTPROTECTMEMORY_CROSS_PROCESS)) throw new Error('CryptProtectMemory failed')
  return data
}
