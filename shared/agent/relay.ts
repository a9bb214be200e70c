import type { Readable, Writable } from 'node:stream'
import {
  AGENT_FAILURE_FRAME,
  AGENT_MAX_LEN,
  type AgentFrame,
  FrameError,
  FrameParser,
  HEADER_LEN,
  messageName,
} from './frames.js'
import { ExitCode } from '../exit-codes.js'
import type { Log } from '../log.js'
import { endWritable, onEnd } from '../pump.js'
import { isClosedByPeer, messageOf } from '../relay-error.js'

/**
 * Message-by-message relay for channels that are not byte streams (Pageant's
 * WM_COPYDATA answers one request at a time) or where the relay must see
 * messages: each request read from stdin is handed to `query`, and its
 * answer is written to stdout, strictly in order, as the agent protocol
 * requires.
 *
 * | event | what happens | exit |
 * |---|---|---|
 * | a query fails (agent gone, timeout, bad answer) | that request is answered `SSH_AGENT_FAILURE`; the session goes on | — |
 * | stdin EOF | answer what was already asked, then end stdout | 0 |
 * | malformed or oversized message on stdin | framing is lost: answer what came before it, report, stop | 5 |
 * | stdout closed by the reader | stop | 0 |
 * | stdin read error | report | 1 |
 *
 * Memory stays bounded: at most `maxQueued` requests (each within the
 * length limit) wait for their turn; beyond that stdin is paused.
 */
export type AgentQuery = (request: AgentFrame) => Promise<Buffer>

export interface AgentRelayOptions {
  log: Log
  /** Largest message accepted either way; default 256 KiB. */
  maxLength?: number
  /** Requests read ahead before stdin is paused. */
  maxQueued?: number
}

/** Check that `reply` is exactly one well-formed message within `maxLength`. */
export function checkReply(reply: Buffer, maxLength: number): void {
  if (reply.length < HEADER_LEN + 1) throw new FrameError(`answer of ${reply.length} bytes is too short`)
  const length = reply.readUInt32BE(0)
  if (length !== reply.length - HEADER_LEN) {
    throw new FrameError(`answer claims ${length} bytes but carries ${reply.length - HEADER_LEN}`)
  }
  if (length > maxLength) throw new FrameError(`answer of ${length} bytes exceeds the limit of ${maxLength}`)
}

export function relayAgent(
  io: { stdin: Readable; stdout: Writable },
  query: AgentQuery,
  options: AgentRelayOptions,
): Promise<ExitCode> {
  const { stdin, stdout } = io
  const { log } = options
  const maxLength = options.maxLength ?? AGENT_MAX_LEN
  const maxQueued = options.maxQueued ?? 8
  const parser = new FrameParser({ maxLength })
  const queue: AgentFrame[] = []
  let busy = false
  let inputDone: ExitCode | undefined
  let finished = false

  return new Promise((resolve) => {
    const finish = (code: ExitCode) => {
      if (finished) return
      finished = true
      stdin.pause()
      void endWritable(stdout).then(() => resolve(code))
    }

    const next = async () => {
      if (busy || finished) return
      const request = queue.shift()
      if (!request) {
        if (inputDone !== undefined) finish(inputDone)
        return
      }
      busy = true
      if (inputDone === undefined && queue.length < maxQueued) stdin.resume()
      const name = messageName(request.type)
      log.debug(`-> ${name} (${request.length} bytes)`)
      let reply: Buffer
      try {
        reply = await query(request)
        checkReply(reply, maxLength)
        log.debug(`<- ${messageName(reply[HEADER_LEN] as number)} (${reply.length - HEADER_LEN} bytes)`)
      } catch (err) {
        log.error(`${name} failed, answering SSH_AGENT_FAILURE: ${messageOf(err)}`)
        reply = AGENT_FAILURE_FRAME
      }
      if (!finished && !stdout.write(reply)) await new Promise((r) => stdout.once('drain', r))
      busy = false
      void next()
    }

    stdin.on('data', (chunk: Buffer) => {
      if (inputDone !== undefined) return
      try {
        queue.push(...parser.push(chunk))
      } catch (err) {
        if (err instanceof FrameError) queue.push(...err.complete)
        log.error(`${messageOf(err)}; closing the session (the stream lost its framing)`)
        inputDone = err instanceof FrameError ? ExitCode.PROTOCOL : ExitCode.ERROR
        stdin.pause()
      }
      if (queue.length >= maxQueued) stdin.pause()
      void next()
    })
    onEnd(stdin, () => {
      if (parser.buffered > 0) log.error(`stdin ended inside a message (${parser.buffered} bytes dropped)`)
      inputDone ??= ExitCode.OK
      void next()
    })
    stdin.on('error', (err) => {
      log.error(`reading stdin failed: ${messageOf(err)}`)
      inputDone = ExitCode.ERROR
      void next()
    })
    // Explicitly: a socket accepted paused (pauseOnConnect) or handed over
    // after a handshake does not start flowing just because we listen.
    stdin.resume()
    stdout.on('error', (err) => {
      if (!isClosedByPeer(err)) log.error(`writing stdout failed: ${messageOf(err)}`)
      finish(isClosedByPeer(err) ? ExitCode.OK : ExitCode.ERROR)
    })
  })
}
