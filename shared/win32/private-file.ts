import path from 'node:path'
import { nodeErrorCode } from './errors.js'
import { INVALID_HANDLE_VALUE, kernel32 } from './kernel32.js'
import { userOnlySecurityAttributes } from './security.js'

/**
 * kernel32 CreateFileW with the user-only security descriptor of
 * security.ts: a new, empty file that only its user may open from the
 * moment it exists. Node's fs passes no security attributes, so a file it
 * creates takes its folder's inheritable ACEs (in C:\Users\Public or a
 * folder made under C:\, read access for every local user), and the `mode`
 * it is given means nothing on Windows. Setting a DACL after creating the
 * file would leave a moment in which another user could open it and keep
 * the handle; this never does. Write the content afterwards through an
 * ordinary open of the existing file, which keeps its descriptor.
 */

const GENERIC_WRITE = 0x40000000
const CREATE_NEW = 1
/** Not through a link: CREATE_NEW on a dangling symbolic link would create the file it names. */
const FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000

/**
 * Create `file` (it must not exist) with `attributes` (FILE_ATTRIBUTE_*),
 * private to the current user. Fails with `code` EEXIST when it exists.
 */
export async function createPrivateFile(file: string, attributes: number): Promise<void> {
  const k = await kernel32()
  const full = path.resolve(file)
  const handle = k.CreateFileW(full, GENERIC_WRITE, 0, await userOnlySecurityAttributes(), CREATE_NEW, attributes | FILE_FLAG_OPEN_REPARSE_POINT, 0) as number
  if (handle === INVALID_HANDLE_VALUE) {
    const winError = k.GetLastError() as number
    throw Object.assign(new Error(`CreateFileW(${full}) failed (error ${winError})`), { code: nodeErrorCode(winError), winError })
  }
  k.CloseHandle(handle)
}
