import net from 'node:net'
import { WIN32, nodeErrorCode } from './errors.js'
import { INVALID_HANDLE_VALUE, type Kernel32, kernel32 } from './kernel32.js'
import { handleToFd } from './node-fd.js'
import { handleOwnerSddl } from './security.js'

/**
 * The client end of a named pipe, opened here rather than by libuv so that
 * the connection we talk through is the one whose owner we read, as
 * PuTTY's client asks before it talks to Pageant ("Owner of named pipe …
 * is not us"). Any user can create a pipe under a name that is not taken
 * yet, Pageant's (anyone can compute it) or `openssh-ssh-agent` while that
 * service is stopped, and would then receive our agent requests.
 *
 * One open per client: an earlier check opened the pipe a second time to
 * read its owner, and that extra client per connection made Pageant under
 * Wine drop clients under parallel load. Here the handle is opened as
 * libuv opens it (read/write, FILE_FLAG_OVERLAPPED, so libuv ties it to its
 * completion port and does the same overlapped I/O as for a pipe it opened
 * itself), its owner read with GetSecurityInfo, and then it becomes a
 * descriptor (node-fd.ts) for `net.Socket`.
 */

const GENERIC_READ = 0x80000000
const GENERIC_WRITE = 0x40000000
const OPEN_EXISTING = 3
const FILE_FLAG_OVERLAPPED = 0x40000000
/** As long as libuv waits for a busy pipe before ETIMEDOUT. */
const BUSY_WAIT_MS = 30_000
/** One WaitNamedPipe call; then the deadline is looked at again. */
const WAIT_SLICE_MS = 1000

/**
 * Open pipe `name` (`\\.\pipe\…`) and hand the owner of its security
 * descriptor to `check`, as SDDL writes it: a SID, or the alias of a
 * well-known one (`SY`, `BA`); '' when it has none. If `check` throws, the
 * handle is closed and that is the error. A busy pipe is waited for
 * (WaitNamedPipe, off the main thread) for up to 30 s, as libuv does.
 * Fails with `code` ENOENT, EACCES …, or ETIMEDOUT when it stays busy.
 * Give the handle to {@link pipeSocket}.
 */
export async function openPipe(name: string, check: (owner: string) => Promise<void> | void): Promise<number> {
  const k = await kernel32()
  const deadline = Date.now() + BUSY_WAIT_MS
  let failedBefore = false
  for (;;) {
    const handle = k.CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, 0) as number
    if (handle !== INVALID_HANDLE_VALUE) {
      try {
        await check(await handleOwnerSddl(handle))
        return handle
      } catch (err) {
        k.CloseHandle(handle)
        throw err
      }
    }
    const winError = k.GetLastError() as number
    // koffi's last error can be another call's (kernel32.ts), such as a
    // parallel WaitNamedPipe's: a failure other than "busy" is reported only
    // when the open before it failed so too.
    const busy = winError === WIN32.PIPE_BUSY
    if (!busy && !failedBefore) {
      failedBefore = true
      continue
    }
    failedBefore = false
    if (!busy || Date.now() > deadline) {
      const code = busy ? 'ETIMEDOUT' : nodeErrorCode(winError)
      throw Object.assign(new Error(`cannot open ${name} (error ${winError})`), { code, winError })
    }
    await waitForInstance(k, name, Math.min(WAIT_SLICE_MS, Math.max(1, deadline - Date.now())))
  }
}

/** The owner of pipe `name` ({@link openPipe}'s), through a connection closed at once. */
export async function pipeOwner(name: string): Promise<string> {
  let owner = ''
  const handle = await openPipe(name, (o) => void (owner = o))
  ;(await kernel32()).CloseHandle(handle)
  return owner
}

/** WaitNamedPipe on a koffi worker thread: returns when an instance is free, the time is up, or the pipe is gone (the next open tells which). */
function waitForInstance(k: Kernel32, name: string, ms: number): Promise<void> {
  return new Promise((resolve) => k.WaitNamedPipeW.async(name, ms, () => resolve()))
}

/**
 * A connected `net.Socket` on an {@link openPipe} handle, which it now
 * owns (closing the socket closes the handle). `allowHalfOpen`: named pipes
 * have no half-close, so Node must not answer the server's EOF with one.
 */
export async function pipeSocket(handle: number): Promise<net.Socket> {
  return new net.Socket({ fd: await handleToFd(handle), readable: true, writable: true, allowHalfOpen: true })
}
