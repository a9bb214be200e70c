import { createHash } from 'node:crypto'

/**
 * Pageant's named pipe (PuTTY 0.75+): `\\.\pipe\pageant.<user>.<hex>`, where
 * `<hex>` is SHA-256 over an SSH string (uint32 BE length ‖ bytes) of
 * "Pageant" padded with NULs to one 16-byte block and encrypted with
 * CryptProtectMemory(CRYPTPROTECTMEMORY_CROSS_PROCESS). The encryption key
 * changes at every boot, so the name must be computed at run time, on the
 * machine, by the same user.
 */

/** CRYPTPROTECTMEMORY_BLOCK_SIZE: CryptProtectMemory works on whole blocks of this many bytes. */
const NAME_BLOCK_LEN = 16

/** The one block that gets encrypted: "Pageant" and nine NULs. */
export function pageantNameBlock(): Buffer {
  const block = Buffer.alloc(NAME_BLOCK_LEN)
  block.write('Pageant', 'latin1')
  return block
}

/** The pipe name from the user name and the *encrypted* block. */
export function pageantPipeName(user: string, protectedBlock: Buffer): string {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(protectedBlock.length)
  const digest = createHash('sha256').update(length).update(protectedBlock).digest('hex')
  return `\\\\.\\pipe\\pageant.${user}.${digest}`
}

/** What computing the name needs from Windows; injectable so tests can prove the encryption step is really used. */
export interface PipeNameDeps {
  userName(): Promise<string>
  protect(block: Buffer): Promise<Buffer>
}

/** Compute this user's Pageant pipe name on this boot. */
export async function discoverPageantPipeName(deps?: PipeNameDeps): Promise<string> {
  const d = deps ?? (await windowsDeps())
  return pageantPipeName(await d.userName(), await d.protect(pageantNameBlock()))
}

async function windowsDeps(): Promise<PipeNameDeps> {
  const [{ puttyUserName }, { cryptProtectCrossProcess }] = await Promise.all([
    import('../../win32/user-identity.js'),
    import('../../win32/crypt-protect.js'),
  ])
  return { userName: puttyUserName, protect: cryptProtectCrossProcess }
}
