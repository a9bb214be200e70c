import { type Stats, createWriteStream, fstatSync, statSync, writeSync } from 'node:fs'
import { Socket } from 'node:net'
import { type Readable, Writable } from 'node:stream'
import { isatty } from 'node:tty'
import { FdReader, lendingSocket } from './lent-buffers.js'

/**
 * The process's stdin and stdout as streams a relay can rely on: binary,
 * with backpressure, with an EOF the reader sees when we end stdout, and
 * without dying on handles libuv does not expect.
 *
 * Why not just `process.stdin`/`process.stdout`:
 * - Under Wine (and other hosts that hand a Windows process odd handles), a
 *   Unix pipe or socketpair on fd 0/1 looks like a pipe to GetFileType but
 *   SetNamedPipeHandleState fails, so libuv gives up and merely touching
 *   `process.stdin` throws `EBADF`. Plain `fs` reads and writes on fd 0/1
 *   work there, byte-exact and with a correct EOF; on Windows we use them
 *   for every handle that is not a console.
 * - On POSIX, `process.stdout.end()` on a pipe never closes it, so the
 *   reader would not see EOF until the process exits. Our own socket
 *   wrapper over fd 1 closes (pipe) or shuts down (socket) on `end()`.
 */
export interface Stdio {
  /** Opened on first use: `--help`, `--version` and usage errors never pay for it. */
  readonly stdin: Readable
  stdout: Writable
  /** Synchronous, so a message written just before exit is never lost. */
  stderr: Writable
  /** Whether anything has used {@link Stdio.stdin} yet. */
  stdinOpened(): boolean
}

/** Open fd 0, 1 and 2 for relaying. */
export function openStdio(platform: NodeJS.Platform = process.platform): Stdio {
  let stdin: Readable | undefined
  const stdoutKind = kindOf(1, platform)
  const stdio: Stdio = {
    get stdin() {
      return (stdin ??= openStdin(platform))
    },
    stdout: openStdout(platform, stdoutKind),
    stderr: syncWriter(2),
    stdinOpened: () => stdin !== undefined,
  }
  if (platform === 'win32') replaceGetters(stdio, { stdout: stdoutKind, stderr: kindOf(2, platform) })
  return stdio
}

/**
 * Node's own code reads `process.stderr` behind our back: every
 * `net.Socket#destroy()` does. Where fd 1 or 2 is not a console, that
 * getter throws EBADF under Wine (and odd hosts), so destroying any socket
 * would fail; and asking it first costs a start 4 ms under Wine (Node builds
 * its stream before it fails). So for anything but a console the getter is
 * replaced, unasked, with our stream on the same descriptor.
 */
function replaceGetters(stdio: Stdio, kinds: Record<'stdout' | 'stderr', FdKind>): void {
  for (const name of ['stdout', 'stderr'] as const) {
    if (kinds[name] !== 'tty') Object.defineProperty(process, name, { value: stdio[name], configurable: true, writable: true })
  }
}

/**
 * A writable that writes straight to `fd`, each chunk whole before the next.
 * For diagnostics (the default) a failed write is dropped: stderr gone or
 * full is not worth dying for. For data (`'report'`: stdout on a file)
 * it is the writer's error, as a full disk must be.
 */
export function syncWriter(fd: number, failures: 'drop' | 'report' = 'drop'): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        for (let at = 0; at < chunk.length; ) {
          const n = writeSync(fd, chunk, at)
          // Only a non-blocking pipe (PIPE_NOWAIT on Windows) takes nothing; never spin on it.
          if (n === 0) throw Object.assign(new Error(`write to fd ${fd} took no bytes`), { code: 'EAGAIN' })
          at += n
        }
      } catch (err) {
        if (failures === 'report') return callback(err as Error)
      }
      callback()
    },
  })
}

type FdKind = 'stream' | 'tty' | 'file'

function kindOf(fd: number, platform: NodeJS.Platform): FdKind {
  try {
    const st = fstatSync(fd)
    if (st.isSocket() || st.isFIFO()) return 'stream'
    // Only a character device can be a terminal; asking tty about a file or
    // /dev/null would load the tty module (and with it net) for nothing.
    if (!st.isCharacterDevice() || (platform !== 'win32' && isDevNull(st))) return 'file'
    return isatty(fd) ? 'tty' : 'file'
  } catch {
    return 'file'
  }
}

/** Whether `st` is the null device (where `stdio: 'ignore'` points fd 0-2 on POSIX). */
function isDevNull(st: Stats): boolean {
  try {
    return statSync('/dev/null').rdev === st.rdev
  } catch {
    return false
  }
}

function openStdin(platform: NodeJS.Platform): Readable {
  const kind = kindOf(0, platform)
  if (kind === 'tty') return process.stdin
  if (kind === 'stream' && platform !== 'win32') {
    return lendingSocket(0)
  }
  return new FdReader(0)
}

function openStdout(platform: NodeJS.Platform, kind: FdKind): Writable {
  if (kind === 'tty') return process.stdout
  if (kind === 'stream' && platform !== 'win32') {
    const socket = new Socket({ fd: 1, readable: false, writable: true, allowHalfOpen: true })
    // end() shuts a socket down for writing; a pipe needs its fd closed.
    socket.once('finish', () => socket.destroy())
    return socket
  }
  // A file or /dev/null takes a write at once (a slow disk or device
  // aside), so on POSIX it is written straight away, without loading fs's
  // streams; under Windows 'file' also covers the pipes Wine hands over,
  // whose reader sets the pace.
  if (platform !== 'win32') return syncWriter(1, 'report')
  return createWriteStream('', { fd: 1, autoClose: true })
}
