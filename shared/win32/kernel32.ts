import { koffi, type KoffiModule } from './koffi.js'
import { lazyFunctions } from './lazy-functions.js'

/**
 * kernel32, bound once per process for every module in this folder, with
 * the few ntdll calls that go with it (copying and zeroing memory, the pipe
 * query kernel32 has no function for, and overlapped I/O that returns its
 * NTSTATUS).
 *
 * One prototype per function, so the types are one decision: every HANDLE
 * is an `intptr_t` (a plain number; INVALID_HANDLE_VALUE is -1 and the
 * pseudo-handle of GetCurrentProcess is -1 too), memory from LocalAlloc is
 * a koffi pointer (`void *`), and addresses inside such memory (OVERLAPPEDs,
 * buffers) are `uintptr_t` numbers, which makes "block + offset" arithmetic
 * plain addition. RtlMoveMemory is bound twice, once per direction, because
 * one side is a JavaScript Buffer and the other an address.
 *
 * As in C, GetLastError is read right after the call that failed, before
 * any other Win32 call can replace it. It can still be wrong: koffi keeps
 * one last error per Node thread and copies it in and out around every
 * call, including `.async` calls finishing on a pool thread, so an async
 * call that returns between a call and its GetLastError replaces the error
 * (completion-port.ts). Where that matters, the ntdll call that returns its
 * NTSTATUS is used instead.
 */

/** `INVALID_HANDLE_VALUE`: what CreateFile, CreateNamedPipe … return on failure. */
export const INVALID_HANDLE_VALUE = -1
/** LocalAlloc flags: fixed memory, zeroed. */
export const LPTR = 0x0040

/** GetHandleInformation/SetHandleInformation: child processes inherit the handle. */
export const HANDLE_FLAG_INHERIT = 0x1

export type Kernel32 = ReturnType<typeof bind>

let bound: Promise<Kernel32> | undefined
let bindings: Kernel32 | undefined

/** kernel32 (and its ntdll helpers), bound on first use. Windows only. */
export function kernel32(): Promise<Kernel32> {
  return (bound ??= koffi().then(kernel32With))
}

/**
 * The same bindings, made from `ffi` at once: for koffi.ts's cache check,
 * which runs before koffi() resolves and so cannot wait for kernel32().
 */
export function kernel32With(ffi: KoffiModule): Kernel32 {
  return (bindings ??= bind(ffi))
}

function bind(ffi: KoffiModule) {
  const k32 = ffi.load('kernel32.dll')
  const ntdll = ffi.load('ntdll.dll')
  // GetLastError is bound at once: binding it lazily, right after the call
  // that failed, could run Win32 code that replaces the error it is to read.
  const eager = { ffi, GetLastError: k32.func('uint32_t __stdcall GetLastError()') }
  // The rest on first use (lazy-functions.ts): a relay calls a few of them.
  return lazyFunctions(eager, {
    SetLastError: () => k32.func('void __stdcall SetLastError(uint32_t dwErrCode)'),
    // Handles, processes, the console
    CloseHandle: () => k32.func('int __stdcall CloseHandle(intptr_t hObject)'),
    GetCurrentProcess: () => k32.func('intptr_t __stdcall GetCurrentProcess()'),
    OpenProcess: () => k32.func('intptr_t __stdcall OpenProcess(uint32_t dwDesiredAccess, int bInheritHandle, uint32_t dwProcessId)'),
    TerminateProcess: () => k32.func('int __stdcall TerminateProcess(intptr_t hProcess, uint32_t uExitCode)'),
    GetConsoleWindow: () => k32.func('void * __stdcall GetConsoleWindow()'),
    GetSystemDirectoryW: () => k32.func('uint32_t __stdcall GetSystemDirectoryW(_Out_ char16_t *lpBuffer, uint32_t uSize)'),
    GetModuleHandleW: () => k32.func('intptr_t __stdcall GetModuleHandleW(const char16_t *lpModuleName)'),
    GetModuleFileNameW: () => k32.func('uint32_t __stdcall GetModuleFileNameW(intptr_t hModule, _Out_ char16_t *lpFilename, uint32_t nSize)'),
    QueryFullProcessImageNameW: () => k32.func(
      'int __stdcall QueryFullProcessImageNameW(intptr_t hProcess, uint32_t dwFlags, _Out_ char16_t *lpExeName, _Inout_ uint32_t *lpdwSize)',
    ),
    GlobalGetAtomNameW: () => k32.func('uint32_t __stdcall GlobalGetAtomNameW(uint16_t nAtom, _Out_ char16_t *lpBuffer, int nSize)'),
    // Events
    CreateEventW: () => k32.func('intptr_t __stdcall CreateEventW(void *lpEventAttributes, int bManualReset, int bInitialState, const char16_t *lpName)'),
    SetEvent: () => k32.func('int __stdcall SetEvent(intptr_t hEvent)'),
    GetHandleInformation: () => k32.func('int __stdcall GetHandleInformation(intptr_t hObject, _Out_ uint32_t *lpdwFlags)'),
    SetHandleInformation: () => k32.func('int __stdcall SetHandleInformation(intptr_t hObject, uint32_t dwMask, uint32_t dwFlags)'),
    // Memory
    LocalAlloc: () => k32.func('void * __stdcall LocalAlloc(uint32_t uFlags, size_t uBytes)'),
    LocalFree: () => k32.func('void * __stdcall LocalFree(void *hMem)'),
    CopyIn: () => ntdll.func('void __stdcall RtlMoveMemory(uintptr_t Destination, const void *Source, size_t Length)'),
    CopyOut: () => ntdll.func('void __stdcall RtlMoveMemory(void *Destination, uintptr_t Source, size_t Length)'),
    RtlZeroMemory: () => ntdll.func('void __stdcall RtlZeroMemory(uintptr_t Destination, size_t Length)'),
    // Files
    CreateFileW: () => k32.func(
      'intptr_t __stdcall CreateFileW(const char16_t *lpFileName, uint32_t dwDesiredAccess, uint32_t dwShareMode, void *lpSecurityAttributes, uint32_t dwCreationDisposition, uint32_t dwFlagsAndAttributes, intptr_t hTemplateFile)',
    ),
    GetFileInformationByHandle: () => k32.func('int __stdcall GetFileInformationByHandle(intptr_t hFile, void *lpFileInformation)'),
    GetFileAttributesW: () => k32.func('uint32_t __stdcall GetFileAttributesW(const char16_t *lpFileName)'),
    SetFileAttributesW: () => k32.func('int __stdcall SetFileAttributesW(const char16_t *lpFileName, uint32_t dwFileAttributes)'),
    // Overlapped I/O through ntdll, which returns the NTSTATUS instead of
    // leaving it to GetLastError (completion-port.ts: why, and how to call them).
    NtReadFile: () => ntdll.func(
      'uint32_t __stdcall NtReadFile(intptr_t FileHandle, intptr_t Event, uintptr_t ApcRoutine, uintptr_t ApcContext, uintptr_t IoStatusBlock, uintptr_t Buffer, uint32_t Length, uintptr_t ByteOffset, uintptr_t Key)',
    ),
    NtWriteFile: () => ntdll.func(
      'uint32_t __stdcall NtWriteFile(intptr_t FileHandle, intptr_t Event, uintptr_t ApcRoutine, uintptr_t ApcContext, uintptr_t IoStatusBlock, uintptr_t Buffer, uint32_t Length, uintptr_t ByteOffset, uintptr_t Key)',
    ),
    NtFsControlFile: () => ntdll.func(
      'uint32_t __stdcall NtFsControlFile(intptr_t FileHandle, intptr_t Event, uintptr_t ApcRoutine, uintptr_t ApcContext, uintptr_t IoStatusBlock, uint32_t FsControlCode, uintptr_t InputBuffer, uint32_t InputBufferLength, uintptr_t OutputBuffer, uint32_t OutputBufferLength)',
    ),
    RtlNtStatusToDosError: () => ntdll.func('uint32_t __stdcall RtlNtStatusToDosError(uint32_t Status)'),
    CancelIoEx: () => k32.func('int __stdcall CancelIoEx(intptr_t hFile, uintptr_t lpOverlapped)'),
    // File mappings
    CreateFileMappingW: () => k32.func(
      'intptr_t __stdcall CreateFileMappingW(intptr_t hFile, void *lpAttributes, uint32_t flProtect, uint32_t dwMaximumSizeHigh, uint32_t dwMaximumSizeLow, const char16_t *lpName)',
    ),
    MapViewOfFile: () => k32.func(
      'void * __stdcall MapViewOfFile(intptr_t hFileMappingObject, uint32_t dwDesiredAccess, uint32_t dwFileOffsetHigh, uint32_t dwFileOffsetLow, size_t dwNumberOfBytesToMap)',
    ),
    OpenFileMappingW: () => k32.func('intptr_t __stdcall OpenFileMappingW(uint32_t dwDesiredAccess, int bInheritHandle, const char16_t *lpName)'),
    VirtualQuery: () => k32.func('size_t __stdcall VirtualQuery(void *lpAddress, void *lpBuffer, size_t dwLength)'),
    UnmapViewOfFile: () => k32.func('int __stdcall UnmapViewOfFile(void *lpBaseAddress)'),
    // Named pipes
    CreateNamedPipeW: () => k32.func(
      'intptr_t __stdcall CreateNamedPipeW(const char16_t *lpName, uint32_t dwOpenMode, uint32_t dwPipeMode, uint32_t nMaxInstances, uint32_t nOutBufferSize, uint32_t nInBufferSize, uint32_t nDefaultTimeOut, void *lpSecurityAttributes)',
    ),
    WaitNamedPipeW: () => k32.func('int __stdcall WaitNamedPipeW(const char16_t *lpNamedPipeName, uint32_t nTimeOut)'),
    DisconnectNamedPipe: () => k32.func('int __stdcall DisconnectNamedPipe(intptr_t hNamedPipe)'),
    GetNamedPipeInfo: () => k32.func(
      'int __stdcall GetNamedPipeInfo(intptr_t hNamedPipe, _Out_ uint32_t *lpFlags, _Out_ uint32_t *lpOutBufferSize, _Out_ uint32_t *lpInBufferSize, _Out_ uint32_t *lpMaxInstances)',
    ),
    NtQueryInformationFile: () => ntdll.func(
      'uint32_t __stdcall NtQueryInformationFile(intptr_t FileHandle, void *IoStatusBlock, void *FileInformation, uint32_t Length, int FileInformationClass)',
    ),
    // Completion ports
    CreateIoCompletionPort: () => k32.func(
      'intptr_t __stdcall CreateIoCompletionPort(intptr_t FileHandle, intptr_t ExistingCompletionPort, uintptr_t CompletionKey, uint32_t NumberOfConcurrentThreads)',
    ),
    SetFileCompletionNotificationModes: () => k32.func('int __stdcall SetFileCompletionNotificationModes(intptr_t FileHandle, uint8_t Flags)'),
    GetQueuedCompletionStatusEx: () => k32.func(
      'int __stdcall GetQueuedCompletionStatusEx(intptr_t CompletionPort, uintptr_t lpCompletionPortEntries, uint32_t ulCount, uintptr_t ulNumEntriesRemoved, uint32_t dwMilliseconds, int fAlertable)',
    ),
    PostQueuedCompletionStatus: () => k32.func(
      'int __stdcall PostQueuedCompletionStatus(intptr_t CompletionPort, uint32_t dwNumberOfBytesTransferred, uintptr_t dwCompletionKey, uintptr_t lpOverlapped)',
    ),
  })
}

/**
 * A system DLL loaded from System32 by its full path. A bare name is looked
 * for in the executable's own folder first, unless the DLL is one of the
 * KnownDLLs (kernel32, ntdll, advapi32, user32, ws2_32 are; crypt32 and
 * secur32 are not): whoever can write to the folder relaykit.exe sits in
 * could put a crypt32.dll there and run code as every user who starts it.
 */
export async function systemLibrary(name: string): Promise<ReturnType<Kernel32['ffi']['load']>> {
  const k = await kernel32()
  const buf = Buffer.alloc(2 * 260)
  const length = k.GetSystemDirectoryW(buf, buf.length / 2) as number
  if (length === 0 || length >= buf.length / 2) throw lastError(k, 'GetSystemDirectoryW')
  return k.ffi.load(`${buf.toString('utf16le', 0, 2 * length)}\\${name}`)
}

/**
 * `<call> failed (error N)`, N from GetLastError: for the call that just
 * failed, so build it before making any other call.
 */
export function lastError(k: Kernel32, call: string): Error {
  return new Error(`${call} failed (error ${k.GetLastError() as number})`)
}

/** FileInformationClass FilePipeLocalInformation. */
const FILE_PIPE_LOCAL_INFORMATION = 24
/** sizeof(IO_STATUS_BLOCK) on 64-bit: a status/pointer union and a ULONG_PTR. */
const IO_STATUS_BLOCK_SIZE = 16
/** FILE_PIPE_LOCAL_INFORMATION is ten ULONGs; these are the offsets of the two we read. */
const PIPE_LOCAL_INFORMATION_SIZE = 40
const NAMED_PIPE_TYPE_OFFSET = 0
const CURRENT_INSTANCES_OFFSET = 12

/** What the system says about a named pipe that kernel32's GetNamedPipeInfo does not: how many instances it has now. */
export interface PipeLocalInformation {
  /** NamedPipeType: bit 0 message type, bit 1 FILE_PIPE_REJECT_REMOTE_CLIENTS. */
  namedPipeType: number
  /** Instances of the pipe that exist now, free ones and connected ones, whoever created them. */
  currentInstances: number
}

/** NtQueryInformationFile(FilePipeLocalInformation) on a pipe handle. */
export function pipeLocalInformation(k: Kernel32, handle: number): PipeLocalInformation {
  const iosb = Buffer.alloc(IO_STATUS_BLOCK_SIZE)
  const info = Buffer.alloc(PIPE_LOCAL_INFORMATION_SIZE)
  const status = k.NtQueryInformationFile(handle, iosb, info, info.length, FILE_PIPE_LOCAL_INFORMATION) as number
  if (status !== 0) throw new Error(`NtQueryInformationFile(FilePipeLocalInformation) failed (NTSTATUS 0x${status.toString(16)})`)
  return { namedPipeType: info.readUInt32LE(NAMED_PIPE_TYPE_OFFSET), currentInstances: info.readUInt32LE(CURRENT_INSTANCES_OFFSET) }
}
