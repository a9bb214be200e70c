import { INVALID_HANDLE_VALUE, type Kernel32, kernel32, kernel32With, lastError, LPTR } from './kernel32.js'
import { koffi, type KoffiModule } from './koffi.js'

/**
 * advapi32 security descriptors for objects only the current user may
 * touch, written as SDDL and read back as SDDL:
 * - the SECURITY_ATTRIBUTES that relay-listen's named pipes and
 *   pageant-relay's WM_COPYDATA mappings are created with;
 * - the DACL of relay-listen's AF_UNIX socket files, set after bind (a file
 *   is created with its folder's inherited ACL);
 * - the current user's SID, and reading back what the system stored for a
 *   handle or a file, so tests check rather than assume.
 *
 * Every one of them is `O:<user>D:P(A;;GA;;;<user>)`: owned by the token
 * user, one ACE granting GENERIC_ALL to that user, and protected (P) so no
 * inheritable ACE from a parent is merged in. Without it, a named pipe gets
 * the default DACL, which grants read access to Everyone and the anonymous
 * account; ours also keeps other accounts from adding instances to our
 * pipe (FILE_CREATE_PIPE_INSTANCE is part of GENERIC_ALL) and squatting on
 * it. Pageant checks only the mapping's owner ("wrong owning SID"); PuTTY's
 * own client sets the owner and leaves the DACL to the token's default.
 *
 * The system maps generic rights when it stores a descriptor (GA may read
 * back as FA, FILE_ALL_ACCESS), so readers accept either. The token user
 * does not change during a process's life, so its SID and the attributes
 * are built once and their LocalAlloc'ed memory is kept for good.
 */

const TOKEN_QUERY = 0x0008
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
const TOKEN_USER_CLASS = 1
const TOKEN_OWNER_CLASS = 4
const SDDL_REVISION_1 = 1
const SE_FILE_OBJECT = 1
const SE_KERNEL_OBJECT = 6
const OWNER_SECURITY_INFORMATION = 0x1
const GROUP_SECURITY_INFORMATION = 0x2
const DACL_SECURITY_INFORMATION = 0x4
const READ_CONTROL = 0x00020000
const WRITE_DAC = 0x00040000
const FILE_SHARE_ALL = 0x7 // read, write, delete
const OPEN_EXISTING = 3
const FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
const FILE_FLAG_BACKUP_SEMANTICS = 0x02000000

type Advapi32 = ReturnType<typeof bind>

let api: Promise<Advapi32> | undefined
let bindings: Advapi32 | undefined

/** The advapi32 bindings, made once, from `ffi` at once (see {@link cacheCheckSecurity}). */
function advapi32With(ffi: KoffiModule): Advapi32 {
  return (bindings ??= bind(ffi))
}

function bind(ffi: KoffiModule) {
  const advapi32 = ffi.load('advapi32.dll')
  return {
    ffi,
    OpenProcessToken: advapi32.func(
      'int __stdcall OpenProcessToken(intptr_t ProcessHandle, uint32_t DesiredAccess, _Out_ intptr_t *TokenHandle)',
    ),
    GetTokenInformation: advapi32.func(
      'int __stdcall GetTokenInformation(intptr_t TokenHandle, int TokenInformationClass, void *TokenInformation, uint32_t TokenInformationLength, _Out_ uint32_t *ReturnLength)',
    ),
    ConvertSidToStringSidW: advapi32.func('int __stdcall ConvertSidToStringSidW(void *Sid, _Out_ void **StringSid)'),
    ConvertStringSecurityDescriptorToSecurityDescriptorW: advapi32.func(
      'int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(const char16_t *StringSecurityDescriptor, uint32_t StringSDRevision, _Out_ void **SecurityDescriptor, void *SecurityDescriptorSize)',
    ),
    ConvertSecurityDescriptorToStringSecurityDescriptorW: advapi32.func(
      'int __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(void *SecurityDescriptor, uint32_t RequestedStringSDRevision, uint32_t SecurityInformation, _Out_ void **StringSecurityDescriptor, void *StringSecurityDescriptorLen)',
    ),
    SetKernelObjectSecurity: advapi32.func('int __stdcall SetKernelObjectSecurity(intptr_t Handle, uint32_t SecurityInformation, void *SecurityDescriptor)'),
    GetNamedSecurityInfoW: advapi32.func(
      'uint32_t __stdcall GetNamedSecurityInfoW(const char16_t *pObjectName, int ObjectType, uint32_t SecurityInfo, void *ppsidOwner, void *ppsidGroup, void *ppDacl, void *ppSacl, _Out_ void **ppSecurityDescriptor)',
    ),
    GetSecurityInfo: advapi32.func(
      'uint32_t __stdcall GetSecurityInfo(intptr_t handle, int ObjectType, uint32_t SecurityInfo, void *ppsidOwner, void *ppsidGroup, void *ppDacl, void *ppSacl, _Out_ void **ppSecurityDescriptor)',
    ),
  }
}

/** advapi32 and kernel32, bound on first use. */
async function bound(): Promise<[Advapi32, Kernel32]> {
  return Promise.all([(api ??= koffi().then(advapi32With)), kernel32()])
}

/** Decode a LocalAlloc'ed UTF-16 string and free it. */
function takeWideString(k: Kernel32, ptr: unknown): string {
  try {
    return k.ffi.decode(ptr, 'char16_t', -1) as string
  } finally {
    k.LocalFree(ptr)
  }
}

let userSid: Promise<string> | undefined

/** The current process token's user SID as a string (`S-1-5-21-...`). */
export function currentUserSid(): Promise<string> {
  userSid ??= readTokenSid(TOKEN_USER_CLASS)
  return userSid
}

let ownerSid: Promise<string> | undefined

/**
 * The SID the process token gives as owner of the objects it creates when
 * no descriptor says otherwise (TokenOwner): the user, or Administrators
 * for an elevated administrator. Pageant accepts a mapping owned by either.
 */
export function tokenDefaultOwnerSid(): Promise<string> {
  ownerSid ??= readTokenSid(TOKEN_OWNER_CLASS)
  return ownerSid
}

/** This process token's TokenUser or TokenOwner. */
async function readTokenSid(tokenClass: number): Promise<string> {
  const [a, k] = await bound()
  return ownTokenSid(a, k, tokenClass)
}

function ownTokenSid(a: Advapi32, k: Kernel32, tokenClass: number): string {
  const token = [0]
  if (!a.OpenProcessToken(k.GetCurrentProcess(), TOKEN_QUERY, token)) throw lastError(k, 'OpenProcessToken')
  try {
    return tokenSid(a, k, token[0] ?? 0, tokenClass)
  } finally {
    k.CloseHandle(token[0])
  }
}

/**
 * The user SID of process `pid`'s token, or undefined when we may not read
 * it (another user's process: its DACL and its token's keep us out).
 */
export async function processUserSid(pid: number): Promise<string | undefined> {
  const [a, k] = await bound()
  const proc = k.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) as number
  if (!proc) return undefined
  try {
    const token = [0]
    if (!a.OpenProcessToken(proc, TOKEN_QUERY, token)) return undefined
    try {
      return tokenSid(a, k, token[0] ?? 0, TOKEN_USER_CLASS)
    } finally {
      k.CloseHandle(token[0])
    }
  } finally {
    k.CloseHandle(proc)
  }
}

/** TokenUser or TokenOwner of `token`: both structures start with the PSID. */
function tokenSid(a: Advapi32, k: Kernel32, token: number, tokenClass: number): string {
  const needed = [0]
  a.GetTokenInformation(token, tokenClass, null, 0, needed)
  const size = needed[0] ?? 0
  if (size === 0) throw new Error(`GetTokenInformation(${tokenClass}) gave no size (error ${k.GetLastError() as number})`)
  const tokenUser: unknown = k.LocalAlloc(LPTR, size)
  if (!tokenUser) throw lastError(k, 'LocalAlloc')
  try {
    if (!a.GetTokenInformation(token, tokenClass, tokenUser, size, needed)) throw lastError(k, `GetTokenInformation(${tokenClass})`)
    // TOKEN_USER starts with SID_AND_ATTRIBUTES, whose first field is the PSID; TOKEN_OWNER is the PSID.
    const sid: unknown = k.ffi.decode(tokenUser, 'void *')
    const text: unknown[] = [null]
    if (!a.ConvertSidToStringSidW(sid, text)) throw lastError(k, 'ConvertSidToStringSid')
    return takeWideString(k, text[0])
  } finally {
    k.LocalFree(tokenUser)
  }
}

/** The SDDL of everything this module protects, for `sid`. */
export function userOnlySddl(sid: string): string {
  return `O:${sid}D:P(A;;GA;;;${sid})`
}

/** {@link userOnlySddl} for the current user as a LocalAlloc'ed security descriptor; free it with LocalFree. */
async function userOnlyDescriptor(a: Advapi32, k: Kernel32): Promise<unknown> {
  const descriptor: unknown[] = [null]
  if (!a.ConvertStringSecurityDescriptorToSecurityDescriptorW(userOnlySddl(await currentUserSid()), SDDL_REVISION_1, descriptor, null)) {
    throw lastError(k, 'ConvertStringSecurityDescriptorToSecurityDescriptor')
  }
  return descriptor[0]
}

let userOnlyAttributes: Promise<unknown> | undefined

/**
 * A pointer to a SECURITY_ATTRIBUTES (not inheritable) whose descriptor is
 * {@link userOnlySddl} for the current user. For named pipes and Pageant's
 * file mappings. Built once: the memory lives as long as the process, so
 * any number of objects may be created with it.
 */
export function userOnlySecurityAttributes(): Promise<unknown> {
  return (userOnlyAttributes ??= buildAttributes())
}

async function buildAttributes(): Promise<unknown> {
  const [a, k] = await bound()
  const descriptor = await userOnlyDescriptor(a, k)
  const ffi = k.ffi
  saType ??= ffi.struct('RELAYKIT_SECURITY_ATTRIBUTES', {
    nLength: 'uint32_t',
    lpSecurityDescriptor: 'void *',
    bInheritHandle: 'int',
  })
  const sa: unknown = k.LocalAlloc(LPTR, ffi.sizeof(saType))
  if (!sa) throw lastError(k, 'LocalAlloc')
  ffi.encode(sa, saType, { nLength: ffi.sizeof(saType), lpSecurityDescriptor: descriptor, bInheritHandle: 0 })
  return sa
}

let saType: ReturnType<Kernel32['ffi']['struct']> | undefined

/**
 * The owner, group and DACL of the object behind `handle` (which needs
 * READ_CONTROL access), as the system stored them, in SDDL.
 */
export function handleSecuritySddl(handle: number): Promise<string> {
  return securitySddl(handle, OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION)
}

/**
 * The owner of the object behind `handle` (READ_CONTROL) as SDDL writes it:
 * a SID, or the alias of a well-known one (`SY`, `BA`); '' when it has none.
 */
export async function handleOwnerSddl(handle: number): Promise<string> {
  return parseSddl(await securitySddl(handle, OWNER_SECURITY_INFORMATION)).owner ?? ''
}

async function securitySddl(handle: number, info: number): Promise<string> {
  const [a, k] = await bound()
  const descriptor: unknown[] = [null]
  const status = a.GetSecurityInfo(handle, SE_KERNEL_OBJECT, info, null, null, null, null, descriptor) as number
  if (status !== 0) throw new Error(`GetSecurityInfo failed (error ${status})`)
  return takeDescriptorSddl(a, k, descriptor[0], info)
}

/** The SDDL of the `info` parts of a LocalAlloc'ed security descriptor, which is freed. */
function takeDescriptorSddl(a: Advapi32, k: Kernel32, descriptor: unknown, info: number): string {
  try {
    const text: unknown[] = [null]
    if (!a.ConvertSecurityDescriptorToStringSecurityDescriptorW(descriptor, SDDL_REVISION_1, info, text, null)) {
      throw lastError(k, 'ConvertSecurityDescriptorToStringSecurityDescriptor')
    }
    return takeWideString(k, text[0])
  } finally {
    k.LocalFree(descriptor)
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
async function withFileHandle<T>(file: string, access: number, use: (a: Advapi32, k: Kernel32, handle: number) => Promise<T> | T): Promise<T> {
  const [a, k] = await bound()
  const handle = k.CreateFileW(file, access, FILE_SHARE_ALL, null, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, 0) as number
  if (handle === INVALID_HANDLE_VALUE) throw new Error(`cannot open ${file} (error ${k.GetLastError() as number})`)
  try {
    return await use(a, k, handle)
  } finally {
    k.CloseHandle(handle)
  }
}

/**
 * Give `file` the DACL of {@link userOnlySddl}: protected (nothing inherited
 * from the folder: the descriptor's SE_DACL_PROTECTED, from "D:P"), one ACE
 * granting the current user full access. For relay-listen's AF_UNIX socket
 * files, which Windows creates with the folder's inherited ACL, and a
 * `--logfile` that already existed. SetKernelObjectSecurity stores the
 * descriptor as built; Wine's SetSecurityInfo, given the same DACL, made
 * the file 0777 (Everyone granted everything).
 */
export async function restrictFileToUser(file: string): Promise<void> {
  await withFileHandle(file, WRITE_DAC | READ_CONTROL, (_a, _k, handle) => restrictHandleToUser(handle, file))
}

/** {@link restrictFileToUser} on an open `handle` (WRITE_DAC) to the file `what` names. */
export async function restrictHandleToUser(handle: number, what: string): Promise<void> {
  const [a, k] = await bound()
  const descriptor = await userOnlyDescriptor(a, k)
  try {
    if (!a.SetKernelObjectSecurity(handle, DACL_SECURITY_INFORMATION, descriptor)) throw lastError(k, `SetKernelObjectSecurity on ${what}`)
  } finally {
    k.LocalFree(descriptor)
  }
}

/** The owner, group and DACL of `file` as stored, in SDDL (for tests of {@link restrictFileToUser}). */
export function fileSecuritySddl(file: string): Promise<string> {
  return withFileHandle(file, READ_CONTROL, (_a, _k, handle) => handleSecuritySddl(handle))
}

/** SDDL's aliases for the groups a folder most often grants, for messages. */
const GROUP_NAMES: Readonly<Record<string, string>> = {
  WD: 'Everyone',
  AU: 'Authenticated Users',
  BU: 'Users',
  IU: 'Interactive',
  AN: 'Anonymous',
}

/** Trustees that can take any object anyway: SYSTEM, Administrators, the owner-rights and creator-owner placeholders. */
const ALWAYS_TRUSTED = ['SY', 'BA', 'OW', 'CO']

/** The trustees (by name where known), other than `userSid` and {@link ALWAYS_TRUSTED}, of the allow ACEs `counts` keeps. */
function grantees(sddl: string, userSid: string, counts: (flags: string, rights: string) => boolean): string[] {
  const others = new Set<string>()
  for (const ace of parseSddl(sddl).aces) {
    const [kind, flags = '', rights = '', , , sid = ''] = ace.split(';')
    if (kind !== 'A' || sid === userSid || ALWAYS_TRUSTED.includes(sid) || !counts(flags, rights)) continue
    others.add(GROUP_NAMES[sid] ?? sid)
  }
  return [...others]
}

/**
 * Who besides `userSid` an object's DACL lets in: the trustees of its
 * allow ACEs that apply to the object itself (not inherit-only), leaving
 * out {@link ALWAYS_TRUSTED}. Empty: private.
 */
export function otherGrantees(sddl: string, userSid: string): string[] {
  return grantees(sddl, userSid, (flags) => !flags.includes('IO'))
}

/** SDDL's two-letter access rights (directory-service names stand for the same bits on files) and their masks. */
const RIGHTS: Readonly<Record<string, number>> = {
  CC: 0x1, DC: 0x2, LC: 0x4, SW: 0x8, RP: 0x10, WP: 0x20, DT: 0x40, LO: 0x80, CR: 0x100,
  SD: 0x10000, RC: 0x20000, WD: 0x40000, WO: 0x80000,
  GA: 0x10000000, GX: 0x20000000, GW: 0x40000000, GR: 0x80000000,
  FA: 0x1f01ff, FR: 0x120089, FW: 0x120116, FX: 0x1200a0,
}

/**
 * Rights that let someone put another file in a folder's place or change
 * one in it: FILE_ADD_FILE (FILE_WRITE_DATA on a file), FILE_DELETE_CHILD,
 * DELETE, WRITE_DAC, WRITE_OWNER, GENERIC_WRITE and GENERIC_ALL.
 */
const WRITE_RIGHTS = 0x2 | 0x40 | 0x10000 | 0x40000 | 0x80000 | 0x40000000 | 0x10000000

/** An ACE's rights field (`FA`, `0x1301bf`, `CCDC…`) as a mask. */
function rightsMask(rights: string): number {
  if (/^0x[0-9a-f]+$/i.test(rights)) return Number(rights)
  let mask = 0
  for (const alias of rights.match(/../g) ?? []) mask |= RIGHTS[alias] ?? 0
  return mask >>> 0
}

/**
 * Who besides `userSid` (and {@link ALWAYS_TRUSTED}) a folder's DACL lets write in it: allow ACEs
 * with a write right, on the folder itself or inherited by the files put
 * in it (an inherit-only object-inherit ACE reaches a new relaykit.exe).
 * Read and execute grants do not count: C:\Program Files has them.
 */
export function otherWriters(sddl: string, userSid: string): string[] {
  return grantees(sddl, userSid, (flags, rights) => (!flags.includes('IO') || flags.includes('OI')) && (rightsMask(rights) & WRITE_RIGHTS) !== 0)
}

/** What koffi's cache check needs, bound from the koffi module it is handed. */
export interface CacheCheckSecurity {
  /** The current user's SID. */
  userSid(): string
  /** The owner and DACL of the file or folder `path`, in SDDL (a link is followed: callers refuse links first). */
  ownerDaclSddl(path: string): string
  /** Give `path` {@link userOnlySddl}'s DACL for `sid`, as {@link restrictFileToUser} does. */
  restrictToUser(path: string, sid: string): void
}

/**
 * {@link currentUserSid}, owner and DACL reading and {@link restrictFileToUser},
 * synchronous and from `ffi`: koffi.ts's cache check runs before koffi()
 * resolves, so it cannot wait for this module's own lazily bound calls (they
 * wait for koffi(), which waits for the check). The bindings are the same
 * ones, made once. Owner and DACL come from GetNamedSecurityInfo: one call
 * per path and no handle, as the check runs on every start.
 */
export function cacheCheckSecurity(ffi: KoffiModule): CacheCheckSecurity {
  const a = advapi32With(ffi)
  const k = kernel32With(ffi)
  return {
    userSid: () => ownTokenSid(a, k, TOKEN_USER_CLASS),
    ownerDaclSddl: (path) => namedOwnerDaclSddl(a, k, path),
    restrictToUser: (path, sid) => restrictPathSync(a, k, path, sid),
  }
}

function namedOwnerDaclSddl(a: Advapi32, k: Kernel32, path: string): string {
  const info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
  const descriptor: unknown[] = [null]
  const status = a.GetNamedSecurityInfoW(path, SE_FILE_OBJECT, info, null, null, null, null, descriptor) as number
  if (status !== 0) throw new Error(`cannot read the permissions of ${path} (error ${status})`)
  return takeDescriptorSddl(a, k, descriptor[0], info)
}

function restrictPathSync(a: Advapi32, k: Kernel32, path: string, sid: string): void {
  const descriptor: unknown[] = [null]
  if (!a.ConvertStringSecurityDescriptorToSecurityDescriptorW(userOnlySddl(sid), SDDL_REVISION_1, descriptor, null)) {
    throw lastError(k, 'ConvertStringSecurityDescriptorToSecurityDescriptor')
  }
  try {
    const handle = k.CreateFileW(path, WRITE_DAC | READ_CONTROL, FILE_SHARE_ALL, null, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, 0) as number
    if (handle === INVALID_HANDLE_VALUE) throw new Error(`cannot open ${path} (error ${k.GetLastError() as number})`)
    try {
      if (!a.SetKernelObjectSecurity(handle, DACL_SECURITY_INFORMATION, descriptor[0])) throw lastError(k, `SetKernelObjectSecurity on ${path}`)
    } finally {
      k.CloseHandle(handle)
    }
  } finally {
    k.LocalFree(descriptor[0])
  }
}

/**
 * Whether `sddl`'s DACL needs no {@link restrictFileToUser}: nothing in it
 * inherited (ID) and nobody granted but `sid` and SYSTEM. What that
 * function stores passes; so does Wine's reading of a 0700 file, which
 * Wine derives from the Unix mode (user and SYSTEM, never "protected").
 */
export function isUserOnlyDacl(sddl: string, sid: string): boolean {
  return parseSddl(sddl).aces.every((ace) => {
    const [kind, flags = '', , , , trustee = ''] = ace.split(';')
    return kind === 'A' && !flags.includes('ID') && (trustee === sid || trustee === 'SY')
  })
}

/** A trustee as SDDL writes it, by name where it is a well-known group (`WD`: Everyone). */
export function trusteeName(sid: string): string {
  return GROUP_NAMES[sid] ?? sid
}
