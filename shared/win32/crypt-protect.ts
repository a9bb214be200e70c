import { systemLibrary } from './kernel32.js'

/**
 * crypt32 CryptProtectMemory (dpapi.h). PuTTY passes a fixed string through
 * it to make Pageant's pipe name, so that the name, which every user can
 * see in the machine's one pipe namespace, does not say what it is. With
 * CRYPTPROTECTMEMORY_CROSS_PROCESS every process on the machine gets the
 * same result until the next boot, when the key changes: the name has to be
 * computed at run time. Wine's implementation leaves the data unchanged;
 * Windows encrypts it.
 */

const CRYPTPROTECTMEMORY_BLOCK_SIZE = 16
const CRYPTPROTECTMEMORY_CROSS_PROCESS = 0x1

/** Encrypt `block` (a multiple of 16 bytes) for every process of this boot; returns a new buffer. */
export async function cryptProtectCrossProcess(block: Buffer): Promise<Buffer> {
  if (block.length % CRYPTPROTECTMEMORY_BLOCK_SIZE !== 0) throw new RangeError('CryptProtectMemory wants whole 16-byte blocks')
  const crypt32 = await systemLibrary('crypt32.dll')
  const CryptProtectMemory = crypt32.func('int __stdcall CryptProtectMemory(uint8_t *pDataIn, uint32_t cbDataIn, uint32_t dwFlags)')
  const data = Buffer.from(block)
  if (!CryptProtectMemory(data, data.length, CRYPTPROTECTMEMORY_CROSS_PROCESS)) throw new Error('CryptProtectMemory failed')
  return data
}
