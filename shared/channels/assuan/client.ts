import fs from 'node:fs/promises'
import type net from 'node:net'
import { connectSocket } from '../connect-socket.js'
import { ExitCode } from '../../exit-codes.js'
import { RelayError, errorCode, messageOf } from '../../relay-error.js'
import { refuseForeignPort } from '../owner.js'

/**
 * libassuan "socket files" (gpg-agent on Windows, `S.gpg-agent` in
 * `%LOCALAPPDATA%\gnupg` or `%APPDATA%\gnupg`): Windows had no Unix sockets,
 * so the agent listens on TCP 127.0.0.1 and writes the port and a secret
 * into the file. A client proves it could read the file by sending the
 * secret first.
 *
 *     "<decimal port>\n" ‖ nonce (16 bytes)
 *
 * Not to be confused with `S.gpg-agent.ssh`, which is in Cygwin's format
 * (`!<socket >PORT s XXXXXXXX-…`).
 */
export interface AssuanEndpoint {
  readonly port: number
  readonly nonce: Buffer
}

/** Length of the secret after the port line. */
export const ASSUAN_NONCE_LEN = 16

/** Parse a socket file's bytes; throws a {@link RelayError} saying what is wrong. */
export function parseAssuanFile(bytes: Buffer, name: string): AssuanEndpoint {
  const nl = bytes.indexOf(0x0a)
  const portText = nl < 0 ? '' : bytes.subarray(0, nl).toString('latin1')
  if (bytes.subarray(0, 9).toString('latin1') === '!<socket ') {
    throw new RelayError(
      `${name} is a Cygwin/MSYS2 socket file, not a libassuan one (gpg-agent's S.gpg-agent.ssh has this format)`,
      ExitCode.PROTOCOL,
    )
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new RelayError(
      `${name} is not a libassuan socket file: it must start with a TCP port number and a newline`,
      ExitCode.PROTOCOL,
    )
  }
  const nonce = bytes.subarray(nl + 1)
  if (nonce.length !== ASSUAN_NONCE_LEN) {
    throw new RelayError(
      `${name} is not a libassuan socket file: expected a ${ASSUAN_NONCE_LEN}-byte nonce after the port, found ${nonce.length} bytes`,
      ExitCode.PROTOCOL,
    )
  }
  return { port: Number(portText), nonce: Buffer.from(nonce) }
}

/** Read the socket file at `path`, connect to 127.0.0.1 and send the nonce. */
export async function connectAssuan(path: string): Promise<net.Socket> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(path)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') {
      throw new RelayError(
        `no libassuan socket file at ${path}: is gpg-agent running (gpg-connect-agent /bye starts it)?`,
        ExitCode.UNAVAILABLE,
      )
    }
    throw new RelayError(`cannot read ${path}: ${messageOf(err)}`, ExitCode.ERROR)
  }
  const { port, nonce } = parseAssuanFile(bytes, path)
  await refuseForeignPort(port, path)
  const socket = await connectSocket({ host: '127.0.0.1', port }).catch((err: unknown) => {
    throw new RelayError(
      `${path} names port ${port} but nobody listens there (${errorCode(err) ?? messageOf(err)}): the file is stale; restart gpg-agent`,
      ExitCode.UNAVAILABLE,
    )
  })
  socket.write(nonce)
  return socket
}

/** With `-p`: the file or the listener is not there yet. */
export function assuanRetryable(err: unknown): boolean {
  return err instanceof RelayError && err.exitCode === ExitCode.UNAVAILABLE
}
