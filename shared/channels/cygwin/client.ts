import { timingSafeEqual } from 'node:crypto'
import fs from 'node:fs/promises'
import net from 'node:net'
import { ExitCode } from '../../exit-codes.js'
import { RelayError, errorCode, isClosedByPeer, messageOf } from '../../relay-error.js'
import { FILE_ATTRIBUTE_SYSTEM, getFileAttributes } from '../../win32/file-attributes.js'
import { CREDENTIALS_LEN, CYGWIN_SECRET_LEN, type CygwinCredentials, type CygwinVariant, encodeCredentials, parseCygwinSocketFile } from './format.js'
import { ShortRead, ignore, readExactly, waitForConnect } from './handshake-io.js'
import { refuseForeignPort } from '../owner.js'
import { CYGWIN_VARIANT_FLAG, type CygwinVariantChoice } from './variant-flag.js'

/** The client side of a Cygwin/MSYS2 socket file: see format.ts for the file and the handshake. */

/**
 * The variant a server probably speaks, from its file: on Windows, SYSTEM
 * attribute → `cygwin`, none → `libassuan` (gpg-agent); elsewhere `cygwin`.
 */
export async function detectCygwinVariant(file: string, platform: NodeJS.Platform = process.platform): Promise<CygwinVariant> {
  if (platform !== 'win32') return 'cygwin'
  try {
    return (await getFileAttributes(file)) & FILE_ATTRIBUTE_SYSTEM ? 'cygwin' : 'libassuan'
  } catch {
    return 'cygwin' // we just read the file; if its attributes cannot be had, bet on the common case
  }
}

/** How {@link connectCygwin} connects. */
export interface CygwinConnectOptions {
  /** The credential exchange; `auto` (the default) decides by {@link detectCygwinVariant}. */
  variant?: CygwinVariantChoice
  /** What we claim to be; default our pid, uid 0, gid 0 (see the module comment). */
  credentials?: Partial<CygwinCredentials>
  /** Connect and handshake must be done within this; default 5000 ms. */
  timeoutMs?: number
}

/**
 * Read the socket file at `file`, connect to 127.0.0.1 and do the handshake.
 * Resolves with the socket at the first byte of the stream: nothing of the
 * handshake left in it, nothing the server sent after it taken out.
 */
export async function connectCygwin(file: string, options: CygwinConnectOptions = {}): Promise<net.Socket> {
  const { port, secret } = parseCygwinSocketFile(await readSocketFile(file), file)
  await refuseForeignPort(port, file)
  const guessed = !options.variant || options.variant === 'auto'
  const variant = options.variant && options.variant !== 'auto' ? options.variant : await detectCygwinVariant(file)
  const ours = encodeCredentials({ pid: process.pid, uid: 0, gid: 0, ...options.credentials }, variant)
  const timeoutMs = options.timeoutMs ?? 5000
  const at = `port ${port} (from ${file})`

  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', ignore) // readExactly and the connect wait below see errors; this keeps them from being unhandled
  let phase: 'connect' | 'secret' | 'credentials' = 'connect'
  let timedOut = false
  let buffered = 0
  const timer = setTimeout(() => {
    timedOut = true
    buffered = socket.readableLength
    socket.destroy()
  }, timeoutMs)
  try {
    await waitForConnect(socket)
    phase = 'secret'
    socket.write(secret)
    const echo = await readExactly(socket, CYGWIN_SECRET_LEN)
    if (!timingSafeEqual(echo, secret)) {
      throw new RelayError(
        `the program on ${at} did not send the secret back: it is not the server that wrote the file (stale file, port taken by another program?)`,
        ExitCode.REFUSED,
      )
    }
    phase = 'credentials'
    socket.write(ours)
    await readExactly(socket, CREDENTIALS_LEN[variant])
  } catch (err) {
    socket.destroy()
    throw describeClientFailure(err, { at, file, port, phase, timedOut, timeoutMs, variant, guessed, buffered })
  } finally {
    clearTimeout(timer)
  }
  socket.removeListener('error', ignore)
  return socket
}

interface ClientFailure {
  at: string
  file: string
  port: number
  phase: 'connect' | 'secret' | 'credentials'
  timedOut: boolean
  timeoutMs: number
  variant: CygwinVariant
  /** The variant came from {@link detectCygwinVariant}, not from the caller. */
  guessed: boolean
  buffered: number
}

/** The end of a wrong-variant message: the flag that fixes it, and why we spoke the other variant. */
function useVariant(right: CygwinVariant, f: ClientFailure): string {
  const why = !f.guessed
    ? ''
    : process.platform !== 'win32'
      ? ` (${f.variant} is the guess off Windows)`
      : f.variant === 'libassuan'
        ? ' (libassuan was guessed: the file lacks the SYSTEM attribute Cygwin sets)'
        : " (cygwin was guessed from the file's SYSTEM attribute)"
  return `: use --${CYGWIN_VARIANT_FLAG} ${right}${why}`
}

function describeClientFailure(err: unknown, f: ClientFailure): RelayError {
  if (err instanceof RelayError) return err
  const wanted = CREDENTIALS_LEN[f.variant]
  if (f.timedOut) {
    const within = `within ${f.timeoutMs} ms`
    if (f.phase === 'connect') return new RelayError(`no TCP connection to ${f.at} ${within}`, ExitCode.TIMEOUT)
    if (f.phase === 'secret') {
      return new RelayError(
        `no answer to the secret from ${f.at} ${within}: whatever listens there is not a Cygwin socket server (stale file?)`,
        ExitCode.TIMEOUT,
      )
    }
    let hint = ''
    if (f.variant === 'cygwin' && f.buffered === CREDENTIALS_LEN.libassuan) {
      hint = `; it sent ${f.buffered} of ${wanted} bytes, as libassuan (gpg-agent) does${useVariant('libassuan', f)}`
    } else if (f.variant === 'libassuan' && f.buffered === 0) {
      hint = `; it may be waiting for Cygwin's ${CREDENTIALS_LEN.cygwin}-byte credentials${useVariant('cygwin', f)}`
    }
    return new RelayError(`${f.at} took our secret but not our ${wanted}-byte credentials ${within}${hint}`, ExitCode.TIMEOUT)
  }
  if (f.phase === 'connect') {
    const code = errorCode(err)
    if (code === 'ECONNREFUSED') {
      return new RelayError(
        `${f.file} names port ${f.port} but nobody listens there: the file is stale (left by a server that died); restart the server`,
        ExitCode.UNAVAILABLE,
      )
    }
    return new RelayError(`cannot connect to ${f.at}: ${code ?? messageOf(err)}`, ExitCode.UNAVAILABLE)
  }
  if (err instanceof ShortRead || isClosedByPeer(err)) {
    if (f.phase === 'secret') {
      return new RelayError(
        `the server on ${f.at} closed the connection on our secret: it rejected it (the file is stale, or was rewritten since we read it)`,
        ExitCode.REFUSED,
      )
    }
    // gpg-agent takes 8 of our 12 bytes, answers 8, then reads the other 4 as a request and may hang up.
    const hint =
      f.variant === 'cygwin' && err instanceof ShortRead && err.got === CREDENTIALS_LEN.libassuan
        ? `; it sent ${err.got} of ${wanted} bytes first, as libassuan (gpg-agent) does${useVariant('libassuan', f)}`
        : ''
    return new RelayError(`the server on ${f.at} closed the connection during the credential exchange${hint}`, ExitCode.REFUSED)
  }
  return new RelayError(`handshake with ${f.at} failed: ${messageOf(err)}`, ExitCode.ERROR)
}

async function readSocketFile(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file)
  } catch (err) {
    switch (errorCode(err)) {
      case 'ENOENT':
        throw new RelayError(
          `no Cygwin socket file at ${file}: is the agent running, and does the path (SSH_AUTH_SOCK?) point at it?`,
          ExitCode.UNAVAILABLE,
        )
      case 'EACCES':
      case 'EPERM':
        throw new RelayError(`permission denied reading ${file}: it belongs to another user`, ExitCode.REFUSED)
      default:
        throw new RelayError(`cannot read ${file}: ${messageOf(err)}`, ExitCode.ERROR)
    }
  }
}

/** With `-p`: the file, or a listener behind it, is not there yet. */
export function cygwinRetryable(err: unknown): boolean {
  return err instanceof RelayError && err.exitCode === ExitCode.UNAVAILABLE
}
