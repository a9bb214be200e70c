import type net from 'node:net'

/**
 * Reading a handshake off a socket without taking a byte of the stream that
 * follows it, for both sides of the Cygwin socket handshake.
 */

/** Resolves once `socket` is connected; rejects with its connect error. */
export function waitForConnect(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      socket.removeListener('connect', onConnect)
      socket.removeListener('error', onError)
      socket.removeListener('close', onClose)
      if (err) reject(err)
      else resolve()
    }
    const onConnect = () => settle()
    const onError = (err: Error) => settle(err)
    const onClose = () => settle(new Error('closed before connecting'))
    socket.on('connect', onConnect)
    socket.on('error', onError)
    socket.on('close', onClose)
  })
}

/** The peer closed before sending all the bytes we waited for. */
export class ShortRead extends Error {
  constructor(
    readonly got: number,
    readonly wanted: number,
  ) {
    super(`connection closed after ${got} of ${wanted} bytes`)
  }
}

/**
 * Exactly `n` bytes from `socket`, leaving whatever follows in its buffer
 * for the stream's reader: `read(n)` never takes more than asked, however
 * the bytes were split or merged in transit. A read that gets exactly what
 * it asked for does not emit 'end' either, even if the peer's EOF is already
 * in: the stream's reader still sees it (a client that connects, shakes
 * hands and hangs up must look like one to `onConnection`).
 */
export function readExactly(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const finish = () => {
      socket.removeListener('readable', onReadable)
      socket.removeListener('end', onEnd)
      socket.removeListener('close', onEnd)
      socket.removeListener('error', onError)
    }
    const onReadable = () => {
      const chunk = socket.read(n) as Buffer | null
      if (chunk === null) return
      finish()
      // At the end of the stream read(n) hands over what is left, even if short.
      if (chunk.length < n) reject(new ShortRead(chunk.length, n))
      else resolve(chunk)
    }
    const onEnd = () => {
      finish()
      reject(new ShortRead(socket.readableLength, n))
    }
    const onError = (err: Error) => {
      finish()
      reject(err)
    }
    // 'end' and 'close' come once: if they are behind us, so is every byte.
    if (socket.readableEnded || socket.destroyed) return reject(new ShortRead(0, n))
    socket.on('readable', onReadable)
    socket.on('end', onEnd)
    socket.on('close', onEnd)
    socket.on('error', onError)
  })
}

/** An 'error' listener that keeps an error the caller sees elsewhere from being unhandled. */
export function ignore(): void {}
