import type { Duplex, Readable, Writable } from 'node:stream'
import { ExitCode } from './exit-codes.js'
import type { Log } from './log.js'
import { type Borrower, lendBuffers } from './lent-buffers.js'
import { isClosedByPeer, messageOf } from './relay-error.js'

/**
 * The byte pump every byte relay uses: stdin → channel and channel → stdout,
 * each with backpressure, until one of the rules below ends the session.
 *
 * Half-close, decided once for every relay:
 *
 * | event | what the pump does | exit |
 * |---|---|---|
 * | stdin EOF, channel can half-close (Unix/TCP socket) | flush, shut the channel down for writing, keep relaying its answer until it closes | 0 at channel EOF |
 * | stdin EOF, channel cannot (named pipe) | flush, run `onStdinEnd` (npiperelay `-s`: zero-length message), then see "settling" | 0 |
 * | stdin EOF with `exitOnStdinEof` (`-ei`), any channel | no half-close; settle, ending as soon as no answer is outstanding | 0 |
 * | channel EOF or closed by the peer | flush what it sent to stdout, end stdout; stdin is not waited for, the channel can take no more | 0 |
 * | stdout closed by the reader (EPIPE) | the client left: stop | 0 |
 * | stdin reset by the client (ECONNRESET: a socket client that left with answers unread) | the client left: stop | 0 |
 * | any other read error on stdin, any other channel error | report it | 1 |
 * | `requestTimeoutMs` passed with a request outstanding and no byte back | report, end the connection | 6 |
 *
 * Settling, for channels without half-close: the peer tools either exit at
 * stdin EOF and lose an answer still in flight (`-ei`), or wait for a pipe
 * EOF that an agent never sends and stay behind as orphans. The pump instead
 * tracks whether a request is outstanding (bytes written to the channel
 * since it last sent anything): if one is, it waits up to `replyWaitMs` for
 * the answer to start and ends once the channel has been quiet for
 * `quietMs`; if none is, `-ei` ends at once (after `quietMs` if `onStdinEnd`
 * sent an EOF message, which may draw an answer) and the default ends after
 * `idleMs` of silence. `exitOnChannelEof` (`-ep`) without `-ei` keeps the
 * peer behaviour: wait for the channel's EOF however long it takes.
 */
export interface PumpOptions {
  /** The channel supports shutting down only its write side (sockets). */
  halfClose: boolean
  /** `-ei`: end once stdin is at EOF and no answer is outstanding. */
  exitOnStdinEof?: boolean
  /** `-ep`: the channel's EOF is the only end after stdin EOF. */
  exitOnChannelEof?: boolean
  /** Runs after the last stdin byte has been handed to the channel. */
  onStdinEnd?: (channel: Duplex) => void
  /**
   * `--request-timeout`: end the session when the channel sends nothing
   * back for this long after being sent something (the far side stalled).
   */
  requestTimeoutMs?: number
  log: Log
  timing?: Partial<SettleTiming>
}

/** How long settling waits; see {@link PumpOptions}. */
export interface SettleTiming {
  replyWaitMs: number
  quietMs: number
  idleMs: number
}

/** Defaults chosen for agents: replies start within seconds (a hardware key
 * or a Windows Hello prompt may take a while), and arrive in one burst. */
export const defaultSettleTiming: SettleTiming = {
  replyWaitMs: 120_000,
  quietMs: 50,
  idleMs: 2_000,
}

// Bound on flushing the channel at the end: a peer that stopped reading must
// not keep the relay alive.
const CHANNEL_FLUSH_MS = 2_000

/**
 * Run `callback` at the stream's EOF, even if that already happened: a
 * socket made from fd 0 starts reading at once, so an empty stdin may have
 * ended before the relay got round to listening.
 */
export function onEnd(stream: Readable, callback: () => void): void {
  if (stream.readableEnded) queueMicrotask(callback)
  else stream.once('end', callback)
}

/** End a writable and wait until what it holds is flushed or it fails. Never rejects. */
export function endWritable(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableFinished) return resolve()
    const done = () => resolve()
    stream.once('close', done)
    stream.once('error', done)
    stream.end(done)
  })
}

/**
 * Let what was written to the channel drain (bounded), then close it. Never
 * `end()` here: a named pipe has no half-close, and asking libuv for one
 * only earns an error after the fact.
 */
function flushThenDestroy(channel: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      channel.destroy()
      resolve()
    }
    const timer = setTimeout(done, CHANNEL_FLUSH_MS)
    if (channel.destroyed || channel.writableLength === 0) return done()
    channel.once('drain', done)
    channel.once('close', done)
  })
}

/**
 * Bytes per buffer lent to stdin. Under load a socketpair's reads fill it
 * (a Linux pipe gives at most 64 KiB a read): fewer, larger reads and writes
 * per MiB, which matters most under Wine, where every read and every write
 * is a round trip through a worker thread or the pipe server. Measured
 * against 64 KiB: throughput under Wine 0.72x -> 0.84x a direct client,
 * and less peak RSS as well (fewer chunks, less code made hot).
 */
const LENT_BUFFER_SIZE = 256 * 1024

/**
 * Stdin's reads go to two buffers in turn, each written to the channel as
 * it fills; a buffer is read into again only once its write has completed.
 * So one read can proceed while the last chunk is being written, nothing is
 * allocated per chunk, and the channel's backpressure reaches stdin as
 * both buffers waiting on their writes.
 */
function twoBuffers(channel: Writable, sent: (n: number) => void, readMore: () => void): Borrower {
  // Made on first use: a stdin that cannot borrow (a listener's client
  // socket) never costs them.
  const buffers: Buffer[] = []
  const busy = [false, false]
  let turn: 0 | 1 = 0
  let waiting = false
  return {
    next: () => (buffers[turn] ??= Buffer.allocUnsafe(LENT_BUFFER_SIZE)),
    take(n, buffer) {
      const mine = turn
      busy[mine] = true
      turn = mine === 0 ? 1 : 0
      sent(n)
      channel.write(buffer.subarray(0, n), () => {
        busy[mine] = false
        // Writes complete in order: the buffer freed is the one reads wait for.
        if (waiting && mine === turn) {
          waiting = false
          readMore()
        }
      })
      waiting = busy[turn] === true
      return !waiting
    },
  }
}

/** Relay between `io` and `channel` until the session ends; resolves with the exit code once stdout is flushed. */
export function pump(
  io: { stdin: Readable; stdout: Writable },
  channel: Duplex,
  options: PumpOptions,
): Promise<ExitCode> {
  const { stdin, stdout } = io
  const { log } = options
  const timing = { ...defaultSettleTiming, ...options.timing }
  // With -ei a socket is not half-closed either: some servers drop an answer
  // they have not sent yet when they see EOF, so settle like a pipe instead.
  const halfClose = options.halfClose && !options.exitOnStdinEof
  const settles = !halfClose && !(options.exitOnChannelEof && !options.exitOnStdinEof)

  return new Promise((resolve) => {
    let finished = false
    let stdinEnded = false
    let outstanding = false
    let timer: NodeJS.Timeout | undefined
    let stallTimer: NodeJS.Timeout | undefined
    let toChannel = 0
    let toStdout = 0
    let stdinReads = 0
    let channelReads = 0

    const finish = (code: ExitCode, why: string) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      clearTimeout(stallTimer)
      log.debug(`${why}; ${toChannel} bytes in (${stdinReads} reads), ${toStdout} bytes out (${channelReads} reads)`)
      stdin.pause()
      // Whatever was already handed to either side is delivered before the
      // exit code is: never lose bytes that were accepted.
      void Promise.all([endWritable(stdout), flushThenDestroy(channel)]).then(() => resolve(code))
    }

    const arm = (ms: number) => {
      clearTimeout(timer)
      if (ms <= 0) finish(ExitCode.OK, 'stdin at EOF and nothing outstanding')
      else timer = setTimeout(() => finish(ExitCode.OK, `channel quiet for ${ms} ms after stdin EOF`), ms)
    }
    const settle = () => {
      if (outstanding) arm(timing.replyWaitMs)
      // An EOF message (-s) may draw a last answer from message-mode servers:
      // give it a moment, not the long wait a real request gets.
      else if (options.exitOnStdinEof) arm(options.onStdinEnd ? timing.quietMs : 0)
      else arm(timing.idleMs)
    }

    channel.on('data', (chunk: Buffer) => {
      outstanding = false
      clearTimeout(stallTimer)
      stallTimer = undefined
      toStdout += chunk.length
      channelReads++
      if (!stdout.write(chunk)) {
        channel.pause()
        stdout.once('drain', () => channel.resume())
      }
      if (stdinEnded && settles) arm(options.exitOnStdinEof ? timing.quietMs : timing.idleMs)
    })
    channel.once('end', () => finish(ExitCode.OK, 'channel closed'))
    channel.on('error', (err) => {
      if (finished) return
      if (isClosedByPeer(err)) finish(ExitCode.OK, `channel closed (${messageOf(err)})`)
      else {
        log.error(`channel failed: ${messageOf(err)}`)
        finish(ExitCode.ERROR, 'channel failed')
      }
    })

    const stalled = (ms: number) => {
      log.error(`no answer within ${ms / 1000} s (--request-timeout); ending the connection`)
      finish(ExitCode.TIMEOUT, 'the channel stalled')
    }
    const sent = (n: number) => {
      outstanding = true
      const limit = options.requestTimeoutMs
      if (limit !== undefined && stallTimer === undefined) stallTimer = setTimeout(stalled, limit, limit)
      toChannel += n
      stdinReads++
    }
    if (!lendBuffers(stdin, twoBuffers(channel, sent, () => finished || stdin.resume()))) {
      stdin.on('data', (chunk: Buffer) => {
        sent(chunk.length)
        if (!channel.write(chunk)) {
          stdin.pause()
          channel.once('drain', () => stdin.resume())
        }
      })
    }
    onEnd(stdin, () => {
      stdinEnded = true
      log.debug('stdin at EOF')
      if (finished) return
      options.onStdinEnd?.(channel)
      if (halfClose) channel.end()
      else if (settles) settle()
    })
    stdin.on('error', (err) => {
      // When stdin is the client's socket (relay-listen in-process, socat's
      // socketpair), a client that goes away with answers still unread
      // resets it: the same departure as EPIPE on stdout, seen from the
      // reading side first.
      if (isClosedByPeer(err)) return finish(ExitCode.OK, `stdin closed by the client (${messageOf(err)})`)
      log.error(`reading stdin failed: ${messageOf(err)}`)
      finish(ExitCode.ERROR, 'stdin failed')
    })
    // Explicitly: a socket accepted paused (pauseOnConnect) or handed over
    // after a handshake does not start flowing just because we listen.
    stdin.resume()

    stdout.on('error', (err) => {
      if (isClosedByPeer(err)) finish(ExitCode.OK, 'stdout closed by the reader')
      else {
        log.error(`writing stdout failed: ${messageOf(err)}`)
        finish(ExitCode.ERROR, 'stdout failed')
      }
    })
  })
}
