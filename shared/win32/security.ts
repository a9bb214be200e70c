import { koffi } from './koffi.js'

/**
 * advapi32 token and security-descriptor calls.
 *
 * Pageant accepts a WM_COPYDATA request only if the file mapping carrying it
 * is owned by the same user SID as Pageant itself; a mapping created with
 * NULL security attributes has no such owner (Wine) or the wrong one, and
 * Pageant answers "wrong owning SID of file mapping". So, like PuTTY's own
 * client, we build a security descriptor whose owner is our token's user.
 *
 * The descriptor and the SID it points to live in LocalAlloc'ed memory that
 * is kept for the life of the process (the user does not change).
 */

const TOKEN_QUERY = 0x0008
const TOKEN_USER_CLASS = 1
const SECURITY_DESCRIPTOR_REVISION = 1
const SECURITY_DESCRIPTOR_MIN_LENGTH = 64 // 40 on x64; generous for every arch
const LPTR = 0x0040

let cached: Promise<unknown> | undefined

/**
 * A pointer to a SECURITY_ATTRIBUTES whose descriptor is owned by the
 * current user (not inheritable), for CreateFileMapping and friends.
 */
export function currentUserSecurityAttributes(): Promise<unknown> {
  cached ??= build()
  return cached
}

async function build(): Promise<unknown> {
  const ffi = await koffi()
  const kernel32 = ffi.load('kernel32.dll')
  const advapi32 = ffi.load('advapi32.dll')
  const GetCurrentProcess = kernel32.func('void * __stdcall GetCurrentProcess()')
  const LocalAlloc = kernel32.func('void * __stdcall LocalAlloc(uint32_t uFlags, size_t uBytes)')
  const GetLastError = kernel32.func('uint32_t __stdcall GetLastError()')
  const OpenProcessToken = advapi32.func(
    'int __stdcall OpenProcessToken(void *ProcessHandle, uint32_t DesiredAccess, _Out_ void **TokenHandle)',
  )
  const GetTokenInformation = advapi32.func(
    'int __stdcall GetTokenInformation(void *TokenHandle, int TokenInformationClass, void *TokenInformation, uint32_t TokenInformationLength, _Out_ uint32_t *ReturnLength)',
  )
  const InitializeSecurityDescriptor = advapi32.func(
    'int __stdcall InitializeSecurityDescriptor(void *pSecurityDescriptor, uint32_t dwRevision)',
  )
  const SetSecurityDescriptorOwner = advapi32.func(
    'int __stdcall SetSecurityDescriptorOwner(void *pSecurityDescriptor, void *pOwner, int bOwnerDefaulted)',
  )
  const CloseHandle = kernel32.func('int __stdcall CloseHandle(void *hObject)')

  const token: unknown[] = [null]
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, token)) {
    throw new Error(`OpenProcessToken failed (error ${GetLastError()})`)
  }
  try {
    const needed = [0]
    GetTokenInformation(token[0], TOKEN_USER_CLASS, null, 0, needed)
    const size = needed[0] ?? 0
    if (size === 0) throw new Error(`GetTokenInformation(TokenUser) gave no size (error ${GetLastError()})`)
    const tokenUser = LocalAlloc(LPTR, size)
    if (!GetTokenInformation(token[0], TOKEN_USER_CLASS, tokenUser, size, needed)) {
      throw new Error(`GetTokenInformation(TokenUser) failed (error ${GetLastError()})`)
    }
    // TOKEN_USER starts with SID_AND_ATTRIBUTES, whose first field is the PSID.
    const sid: unknown = ffi.decode(tokenUser, 'void *')
    const descriptor = LocalAlloc(LPTR, SECURITY_DESCRIPTOR_MIN_LENGTH)
    if (!InitializeSecurityDescriptor(descriptor, SECURITY_DESCRIPTOR_REVISION)) {
      throw new Error(`InitializeSecurityDescriptor failed (error ${GetLastError()})`)
    }
    if (!SetSecurityDescriptorOwner(descriptor, sid, 0)) {
      throw new Error(`SetSecurityDescriptorOwner failed (error ${GetLastError()})`)
    }
    const type = ffi.struct('RELAYKIT_SECURITY_ATTRIBUTES', {
      nLength: 'uint32_t',
      lpSecurityDescriptor: 'void *',
      bInheritHandle: 'int',
    })
    const attributes = LocalAlloc(LPTR, ffi.sizeof(type))
    ffi.encode(attributes, type, { nLength: ffi.sizeof(type), lpSecurityDescriptor: descriptor, bInheritHandle: 0 })
    return attributes
  } finally {
    CloseHandle(token[0])
  }
}
