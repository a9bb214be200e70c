import type net from 'node:net'
import { connectSocket } from '../connect-socket.js'
import { trustedOwnerSid } from '../owner.js'
import { ExitCode } from '../../exit-codes.js'
import { RelayError, errorCode, messageOf } from '../../relay-error.js'

/**
 * Client side of a Windows named pipe: opened by win32/pipe-client.ts (which
 * reads its owner), then driven by libuv (Node's `net`).
 *
 * Quirks this relies on:
 * - Named pipes have no half-close: ending our side closes the handle, so
 *   the pump never ends the pipe at stdin EOF.
 * - A busy pipe (every instance taken) is waited for in WaitNamedPipe and
 *   retried, for up to 30 s (as libuv does), before ETIMEDOUT. npiperelay.exe fails at once
 *   with "All pipe instances are busy", which is what drops requests under
 *   parallel load; waiting is the better behaviour.
 * - A zero-length write reaches a message-mode server as a zero-length
 *   message (`-s`, the EOF signal Docker-style servers expect).
 */

/** `\\.\pipe\name` or `//./pipe/name` (the form that survives shells and socat). */
export function isPipeName(address: string): boolean {
  return /^[/\\]{2}[.?][/\\]pipe[/\\]/i.test(address)
}

/** `//./pipe/name` (shell-friendly) → `\\.\pipe\name`; other names unchanged. */
export function normalizePipeName(name: string): string {
  return isPipeName(name) ? name.replace(/\//g, '\\') : name
}

/**
 * Connect to pipe `name`; on Windows only if its owner is one we trust
 * ({@link trustedPipeOwner}), read from the very connection we then talk
 * through (one open per client: a second one made Pageant under Wine drop
 * clients under parallel load). A refused pipe is exit 4, REFUSED.
 */
export async function connectPipe(name: string): Promise<net.Socket> {
  const path = normalizePipeName(name)
  // allowHalfOpen: do not let Node answer the server's EOF with a
  // shutdown that named pipes do not have.
  if (process.platform !== 'win32') return connectSocket({ path, allowHalfOpen: true })
  const { openPipe, pipeSocket } = await import('../../win32/pipe-client.js')
  return pipeSocket(await openPipe(path, (owner) => refuseUntrustedOwner(path, owner)))
}

export function trustedPipeOwner(owner: string, userSid: string): boolean {
  // No owner at all: Windows gives every pipe one (the creator's token
  // owner), so only Wine, whose pipes made without security attributes
  // have none, says this. Nothing can be told from it: not refused.
  if (owner === '') return true
  return trustedOwnerSid(owner, userSid)
}

/** Throws REFUSED (exit 4) unless {@link trustedPipeOwner}. */
async function refuseUntrustedOwner(path: string, owner: string): Promise<void> {
  const { currentUserSid } = await import('../../win32/security.js')
  const me = await currentUserSid()
  if (trustedPipeOwner(owner, me)) return
  throw new RelayError(
    `open ${path}: the pipe belongs to ${owner}, not to you (${me}) or the system: another user may have created it to receive your agent requests; refusing to connect`,
    ExitCode.REFUSED,
  )
}

/**
 * Refuse (exit 4) a pipe that another user created: whoever made a pipe
 * first under a name we dial receives our agent requests. For relay-listen,
 * whose address is served already: opens the pipe once and closes it.
 * Throws what openPipe throws (ENOENT …) when the pipe cannot be opened.
 */
export async function checkPipeOwner(path: string): Promise<void> {
  const { pipeOwner } = await import('../../win32/pipe-client.js')
  await refuseUntrustedOwner(path, await pipeOwner(path))
}

/** With `-p`: the pipe does not exist yet, or all its instances are busy. */
export function pipeRetryable(err: unknown): boolean {
  const code = errorCode(err)
  return code === 'ENOENT' || code === 'ETIMEDOUT' || code === 'EBUSY'
}

/**
 * npiperelay's message (`open NAME: <Windows text>`) plus the likely fix.
 * Every connect failure is exit 1, as for npiperelay.exe.
 */
export function describePipeError(name: string, err: unknown): RelayError {
  const open = `open ${name}:`
  switch (errorCode(err)) {
    case 'ENOENT':
      return new RelayError(
        `${open} The system cannot find the file specified. (No such pipe: is the agent or service running? -p waits for it.)`,
        ExitCode.ERROR,
      )
    case 'ETIMEDOUT':
    case 'EBUSY':
      return new RelayError(
        `${open} All pipe instances are busy. (Waited 30 s for a free instance; the server is overloaded or hung.)`,
        ExitCode.ERROR,
      )
    case 'EACCES':
    case 'EPERM':
      return new RelayError(
        `${open} Access is denied. (The pipe belongs to another user or an elevated process.)`,
        ExitCode.ERROR,
      )
    default:
      return new RelayError(`${open} ${messageOf(err)}`, ExitCode.ERROR)
  }
}
