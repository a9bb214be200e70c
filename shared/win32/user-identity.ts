import { systemLibrary } from './kernel32.js'
import { koffi } from './koffi.js'

/**
 * secur32/advapi32 user names, as PuTTY computes the user part of Pageant's
 * pipe name: GetUserNameEx(NameUserPrincipal) up to the '@', or, where the
 * account has no UPN (local accounts, Wine), GetUserName.
 */

const NameUserPrincipal = 8
/** Room for either name (GetUserName alone allows UNLEN = 256 characters). */
const NAME_BUFFER_SIZE = 1024

/** The user name PuTTY and Pageant would use. */
export async function puttyUserName(): Promise<string> {
  const ffi = await koffi()
  const secur32 = await systemLibrary('secur32.dll')
  const advapi32 = ffi.load('advapi32.dll')
  const GetUserNameExA = secur32.func('int __stdcall GetUserNameExA(int NameFormat, uint8_t *lpNameBuffer, _Inout_ uint32_t *nSize)')
  const GetUserNameA = advapi32.func('int __stdcall GetUserNameA(uint8_t *lpBuffer, _Inout_ uint32_t *pcbBuffer)')

  const buf = Buffer.alloc(NAME_BUFFER_SIZE)
  const size = [buf.length]
  if (GetUserNameExA(NameUserPrincipal, buf, size)) {
    const upn = buf.subarray(0, size[0]).toString('latin1').replace(/\0.*$/s, '')
    const at = upn.indexOf('@')
    return at < 0 ? upn : upn.slice(0, at)
  }
  size[0] = buf.length
  if (!GetUserNameA(buf, size)) throw new Error('GetUserNameA failed')
  return buf.toString('latin1').replace(/\0.*$/s, '')
}
