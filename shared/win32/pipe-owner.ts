import { WIN32, nodeErrorCode } from './errors.js'
import { INVALID_HANDLE_VALUE, kernel32 } from './kernel32.js'
import { handleSecuritySddl, parseSddl } from './security.js'

/**
 * Who owns a named pipe, as PuTTY's client asks before it talks to Pageant
 * ("Owner of named pipe … is not us"): the owner in the pipe's security
 * descriptor, which is whoever created its first instance. Any user can
 * create a pipe under a name that is not taken yet, including Pageant's
 * (its name can be computed by anyone) and `openssh-ssh-agent` while that
 * service is stopped, and would then receive our agent requests.
 *
 * The owner is read through a connection of its own, closed at once (the
 * server sees a client come and go), because libuv does not hand out the
 * handle of the connection Node makes. The name cannot change hands in
 * between while its server keeps an instance open.
 */

const READ_CONTROL = 0x00020000
const OPEN_EXISTING = 3
/** As long as libuv waits for a busy pipe. */
const BUSY_WAIT_MS = 30_000
const BUSY_POLL_MS = 20

/**
 * The owner of pipe `name` (`\\.\pipe\…`) as SDDL writes it: a SID, or an
 * alias for a well-known one (`SY`, `BA`). Fails with `code` ENOENT when
 * there is no such pipe, ETIMEDOUT when it stays busy.
 */
export async function pipeOwner(name: string): Promise<string> {
  const k = await kernel32()
  const deadline = Date.now() + BUSY_WAIT_MS
  for (;;) {
    const handle = k.CreateFileW(name, READ_CONTROL, 0, null, OPEN_EXISTING, 0, 0) as number
    if (handle !== INVALID_HANDLE_VALUE) {
      try {
        return parseSddl(await handleSecuritySddl(handle)).owner ?? ''
      } finally {
        k.CloseHandle(handle)
      }
    }
    const winError = k.GetLastError() as number
    if (winError !== WIN32.PIPE_BUSY || Date.now() > deadline) {
      const code = winError === WIN32.PIPE_BUSY ? 'ETIMEDOUT' : nodeErrorCode(winError)
      throw Object.assign(new Error(`cannot open ${name} to read its owner (error ${winError})`), { code, winError })
    }
    await new Promise((r) => setTimeout(r, BUSY_POLL_MS))
  }
}
