import { koffi } from './koffi.js'

/**
 * advapi32 security descriptors for objects only the current user may touch,
 * written and read back as SDDL: Pageant's WM_COPYDATA mappings (owner only)
 * and relay-listen's named pipes (owner and sole grantee).
 *
 * A named pipe created with NULL security attributes gets the default DACL
 * of the creator's token, which on Windows lets other local accounts (and
 * Everyone, on some systems, for read) open it. Our listener's pipe gets
 * `O:<user>D:P(A;;GA;;;<user>)`: owned by the token user, one ACE granting
 * GENERIC_ALL to that user, and protected (P) so no inheritable ACE from a
 * parent is merged in. GENERIC_ALL includes FILE_CREATE_PIPE_INSTANCE, so no
 * other account can add instances to our pipe and squat on it.
 *
 * SDDL both ways keeps this small and lets tests compare what the system
 * stored with what we asked for. The system maps generic rights when it
 * stores the descriptor (GA may read back as FA, FILE_ALL_ACCESS), so
 * readers should accept either. The token user does not change during a
 * process's life, so its SID and the attributes are built once and their
 * LocalAlloc'ed memory is kept for good.
 */

const TOKEN_QUERY = 0x0008
const TOKEN_USER_CLASS = 1
const SDDL_REVISION_1 = 1
const LPTR = 0x0040
const SE_KERNEL_OBJECT = 6
const OWNER_SECURITY_INFORMATION = 0x1
const GROUP_SECURITY_INFORMATION = 0x2
const DACL_SECURITY_INFORMATION = 0x4
const PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000
const SE_FILE_OBJECT = 1
const READ_CONTROL = 0x00020000
const WRITE_DAC = 0x00040000
const FILE_SHARE_ALL = 0x7 // read, write, delete
const OPEN_EXISTING = 3
const FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
const FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
const INVALID_HANDLE_VALUE = -1

let api: ReturnType<typeof bind> | undefined

async function bind() {
  const ffi = await koffi()
  const kernel32 = ffi.load('kernel32.dll')
  const advapi32 = ffi.load('advapi32.dll')
  return {
    ffi,
    GetCurrentProcess: kernel32.func('void * __stdcall GetCurrentProcess()'),
    CloseHandle: kernel32.func('int __stdcall CloseHandle(void *hObject)'),
    LocalAlloc: kernel32.func('void * __stdcall LocalAlloc(uint32_t uFlags, size_t uBytes)'),
    LocalFree: kernel32.func('void * __stdcall LocalFree(void *hMem)'),
    GetLastError: kernel32.func('uint32_t __stdcall GetLastError()'),
    OpenProcessToken: advapi32.func(
      'int __stdcall OpenProcessToken(void *ProcessHandle, uint32_t DesiredAccess, _Out_ void **TokenHandle)',
    ),
    GetTokenInformation: advapi32.func(
      'int __stdcall GetTokenInformation(void *TokenHandle, int TokenInformationClass, void *TokenInformation, uint32_t TokenInformationLength, _Out_ uint32_t *ReturnLength)',
    ),
    ConvertSidToStringSidW: advapi32.func('int __stdcall ConvertSidToStringSidW(void *Sid, _Out_ void **StringSid)'),
    ConvertStringSecurityDescriptorToSecurityDescriptorW: advapi32.func(
      'int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(const char16_t *StringSecurityDescriptor, uint32_t StringSDRevision, _Out_ void **SecurityDescriptor, void *SecurityDescriptorSize)',
    ),
    ConvertSecurityDescriptorToStringSecurityDescriptorW: advapi32.func(
      'int __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(void *SecurityDescriptor, uint32_t RequestedStringSDRevision, uint32_t SecurityInformation, _Out_ void **StringSecurityDescriptor, void *StringSecurityDescriptorLen)',
    ),
    CreateFileW: kernel32.func(
      'intptr_t __stdcall CreateFileW(const char16_t *lpFileName, uint32_t dwDesiredAccess, uint32_t dwShareMode, void *lpSecurityAttributes, uint32_t dwCreationDisposition, uint32_t dwFlagsAndAttributes, intptr_t hTemplateFile)',
    ),
    CloseFileHandle: kernel32.func('int __stdcall CloseHandle(intptr_t hObject)'),
    GetSecurityDescriptorDacl: advapi32.func(
      'int __stdcall GetSecurityDescriptorDacl(void *pSecurityDescriptor, _Out_ int *lpbDaclPresent, _Out_ void **pDacl, _Out_ int *lpbDaclDefaulted)',
    ),
    SetSecurityInfo: advapi32.func(
      'uint32_t __stdcall SetSecurityInfo(intptr_t handle, int ObjectType, uint32_t SecurityInfo, void *psidOwner, void *psidGroup, void *pDacl, void *pSacl)',
    ),
    GetSecurityInfo: advapi32.func(
      'uint32_t __stdcall GetSecurityInfo(intptr_t handle, int ObjectType, uint32_t SecurityInfo, void *ppsidOwner, void *ppsidGroup, void *ppDacl, void *ppSacl, _Out_ void **ppSecurityDescriptor)',
    ),
  }
}

/** Decode a LocalAlloc'ed UTF-16 string and free it. */
function takeWideString(w: Awaited<ReturnType<typeof bind>>, ptr: unknown): string {
  try {
    return w.ffi.decode(ptr, 'char16_t', -1) as string
  } finally {
    w.LocalFree(ptr)
  }
}

let userSid: Promise<string> | undefined

/** The current process token's user SID as a string (`S-1-5-21-...`). */
export function currentUserSid(): Promise<string> {
  userSid ??= readUserSid()
  return userSid
}

async function readUserSid(): Promise<string> {
  api ??= bind()
  const w = await api
  const token: unknown[] = [null]
  if (!w.OpenProcessToken(w.GetCurrentProcess(), TOKEN_QUERY, token)) {
    throw new Error(`OpenProcessToken failed (error ${w.GetLastError()})`)
  }
  try {
    const needed = [0]
    w.GetTokenInformation(token[0], TOKEN_USER_CLASS, null, 0, needed)
    const size = needed[0] ?? 0
    if (size === 0) throw new Error(`GetTokenInformation(TokenUser) gave no size (error ${w.GetLastError()})`)
    const tokenUser: unknown = w.LocalAlloc(LPTR, size)
    if (!tokenUser) throw new Error(`LocalAlloc failed (error ${w.GetLastError()})`)
    try {
      if (!w.GetTokenInformation(token[0], TOKEN_USER_CLASS, tokenUser, size, needed)) {
        throw new Error(`GetTokenInformation(TokenUser) failed (error ${w.GetLastError()})`)
      }
      // TOKEN_USER starts with SID_AND_ATTRIBUTES, whose first field is the PSID.
      const sid: unknown = w.ffi.decode(tokenUser, 'void *')
      const text: unknown[] = [null]
      if (!w.ConvertSidToStringSidW(sid, text)) throw new Error(`ConvertSidToStringSid failed (error ${w.GetLastError()})`)
      return takeWideString(w, text[0])
    } finally {
      w.LocalFree(tokenUser)
    }
  } finally {
    w.CloseHandle(token[0])
  }
}

/** The SDDL our pipes are created with, for `sid`. */
export function userOnlySddl(sid: string): string {
  return `O:${sid}D:P(A;;GA;;;${sid})`
}

let userOnlyAttributes: Promise<unknown> | undefined

/**
 * A pointer to a SECURITY_ATTRIBUTES (not inheritable) whose descriptor is
 * {@link userOnlySddl} for the current user: owner and sole grantee is the
 * token user, DACL protected. For named pipes and Pageant's file mappings.
 * Built once: the memory lives as long as the process, so any number of
 * objects may be created with it.
 */
export function userOnlySecurityAttributes(): Promise<unknown> {
  return (userOnlyAttributes ??= buildAttributes(userOnlySddl))
}

async function buildAttributes(sddlFor: (sid: string) => string): Promise<unknown> {
  api ??= bind()
  const w = await api
  const sid = await currentUserSid()
  const descriptor: unknown[] = [null]
  if (!w.ConvertStringSecurityDescriptorToSecurityDescriptorW(sddlFor(sid), SDDL_REVISION_1, descriptor, null)) {
    throw new Error(`ConvertStringSecurityDescriptorToSecurityDescriptor failed (error ${w.GetLastError()})`)
  }
  saType ??= w.ffi.struct('RELAYKIT_SECURITY_ATTRIBUTES', {
    nLength: 'uint32_t',
    lpSecurityDescriptor: 'void *',
    bInheritHandle: 'int',
  })
  const sa: unknown = w.LocalAlloc(LPTR, w.ffi.sizeof(saType))
  if (!sa) throw new Error(`LocalAlloc failed (error ${w.GetLastError()})`)
  w.ffi.encode(sa, saType, { nLength: w.ffi.sizeof(saType), lpSecurityDescriptor: descriptor[0], bInheritHandle: 0 })
  return sa
}

let saType: ReturnType<Awaited<ReturnType<typeof bind>>['ffi']['struct']> | undefined

/**
 * The owner, group and DACL of the object behind `handle` (which needs
 * READ_CONTROL access), as the system stored them, in SDDL.
 */
export async function handleSecuritySddl(handle: number | bigint): Promise<string> {
  api ??= bind()
  const w = await api
  const info = OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
  const descriptor: unknown[] = [null]
  const status = w.GetSecurityInfo(handle, SE_KERNEL_OBJECT, info, null, null, null, null, descriptor) as number
  if (status !== 0) throw new Error(`GetSecurityInfo failed (error ${status})`)
  try {
    const text: unknown[] = [null]
    if (!w.ConvertSecurityDescriptorToStringSecurityDescriptorW(descriptor[0], SDDL_REVISION_1, info, text, null)) {
      throw new Error(`ConvertSecurityDescriptorToStringSecurityDescriptor failed (error ${w.GetLastError()})`)
    }
    return takeWideString(w, text[0])
  } finally {
    w.LocalFree(descriptor[0])
  }
}

/** An SDDL string taken apart (owner, group, DACL flags and ACEs). */
export interface ParsedSddl {
  owner: string | undefined
  group: string | undefined
  /** The DACL's flags, e.g. "P" (protected), "AI" (auto-inherited). */
  daclFlags: string
  /** The DACL's ACEs without parentheses, e.g. "A;;FA;;;S-1-5-21-...". */
  aces: string[]
}

/** Split `O:..G:..D:flags(ace)(ace)` into its parts (SACLs are ignored). */
export function parseSddl(sddl: string): ParsedSddl {
  const parts = new Map<string, string>()
  for (const m of sddl.matchAll(/([OGDS]):(.*?)(?=[OGDS]:|$)/g)) {
    if (m[1] && m[2] !== undefined && !parts.has(m[1])) parts.set(m[1], m[2])
  }
  const dacl = parts.get('D') ?? ''
  const open = dacl.indexOf('(')
  return {
    owner: parts.get('O'),
    group: parts.get('G'),
    daclFlags: open < 0 ? dacl : dacl.slice(0, open),
    aces: [...dacl.matchAll(/\(([^)]*)\)/g)].map((m) => m[1] ?? ''),
  }
}

/**
 * Open `file` itself (not what a reparse point names: an AF_UNIX socket
 * file is one, and opening it the ordinary way fails) for reading or
 * changing its security; `use` gets the handle, which is closed after.
 */
async function withFileHandle<T>(file: string, access: number, use: (w: Awaited<ReturnType<typeof bind>>, handle: number) => Promise<T> | T): Promise<T> {
  api ??= bind()
  const w = await api
  const handle = w.CreateFileW(file, access, FILE_SHARE_ALL, null, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, 0) as number
  if (handle === INVALID_HANDLE_VALUE) throw new Error(`cannot open ${file} (error ${w.GetLastError()})`)
  try {
    return await use(w, handle)
  } finally {
    w.CloseFileHandle(handle)
  }
}

/**
 * Give `file` the DACL of {@link userOnlySddl}: protected (nothing inherited
 * from the folder), one ACE granting the current user full access. For
 * relay-listen's AF_UNIX socket files, which Windows creates with the
 * folder's inherited ACL.
 */
export async function restrictFileToUser(file: string): Promise<void> {
  const sid = await currentUserSid()
  await withFileHandle(file, WRITE_DAC | READ_CONTROL, (w, handle) => {
    const descriptor: unknown[] = [null]
    if (!w.ConvertStringSecurityDescriptorToSecurityDescriptorW(userOnlySddl(sid), SDDL_REVISION_1, descriptor, null)) {
      throw new Error(`ConvertStringSecurityDescriptorToSecurityDescriptor failed (error ${w.GetLastError()})`)
    }
    try {
      const present = [0]
      const dacl: unknown[] = [null]
      const defaulted = [0]
      if (!w.GetSecurityDescriptorDacl(descriptor[0], present, dacl, defaulted) || !present[0]) {
        throw new Error(`GetSecurityDescriptorDacl failed (error ${w.GetLastError()})`)
      }
      const info = DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION
      const status = w.SetSecurityInfo(handle, SE_FILE_OBJECT, info, null, null, dacl[0], null) as number
      if (status !== 0) throw new Error(`SetSecurityInfo on ${file} failed (error ${status})`)
    } finally {
      w.LocalFree(descriptor[0])
    }
  })
}

/** The owner, group and DACL of `file` as stored, in SDDL (for tests of {@link restrictFileToUser}). */
export function fileSecuritySddl(file: string): Promise<string> {
  return withFileHandle(file, READ_CONTROL, (_w, handle) => handleSecuritySddl(handle))
}
