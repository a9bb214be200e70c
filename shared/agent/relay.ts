import type { Readable, Writable } from 'node:stream'
import { AGENT_FAILURE, type AgentFrame, FrameError, FrameParser, messageName } from './frames.js'
import { ExitCode } from '../exit-codes.js'
import type { Log } from '../log.js'
import { endWritable, onEnd } from '../pump.js'
import { RelayError, isClosedByPeer, messageOf } from '../relay-error.js'

/**
 * Message-by-message relay for channels that are not byte streams (Pageant's
 * WM_COPYDATA answers one request at a time) or where the relay must see
 * messages: each request read from stdin is handed to `query`, and its
 * answer is written to stdout, strictly in order, as the agent protocol
 * requires.
 *
 * | event | what happens | exit |
 * |---|---|---|
 * | a query fails (agent gone, timeout, bad answer) | that request is answered `SSH_AGENT_FAILURE`; the session goes on | the first such failure's code, at the end (3 unreachable, 6 timeout, 5 bad answer, 4 refused) |
 * | stdin EOF | answer what was already asked, then end stdout | 0, unless a query failed |
 * | malformed or oversized message on stdin | framing is lost: answer what came before it, report, stop | 5 |
 * | stdout closed by the reader | stop | 0 |
 * | stdin read error | report | 1 |
 *
 * Memory stays bounded: at most `maxQueued` requests (each within the
 * length limit) wait for their turn; beyond that stdin is paused.
 */
export type AgentQuery = (request: AgentFrame) => Promise<AgentFrame>

export interface AgentRelayOptions {
  log: Log
  /** Requests read ahead before stdin is paused. */
  maxQueued?: number
}

export function relayAgent(
  io: { stdin: Readable; stdout: Writable },
  query: AgentQuery,
  options: AgentRelayOptions,
): Promise<ExitCode> {
  const { stdin, stdout } = io
  const { log } = options
  const maxQueued = options.maxQueued ?? 8
  const parser = new FrameParser()
  const queue: AgentFrame[] = []
  let busy = false
  let inputDone: ExitCode | undefined
  let firstFailure: ExitCode | undefined
  let finished = false

  return new Promise((resolve) => {
    const finish = (code: ExitCode) => {
      if (finished) return
      finished = true
      stdin.pause()
      void endWritable(stdout).then(() => resolve(code === ExitCode.OK ? (firstFailure ?? code) : code))
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
      let reply: AgentFrame
      try {
        reply = await query(request)
        log.debug(`<- ${messageName(reply.type)} (${reply.length} bytes)`)
      } catch (err) {
        log.error(`${name} failed, answering SSH_AGENT_FAILURE: ${messageOf(err)}`)
        firstFailure ??= err instanceof RelayError ? err.exitCode : ExitCode.ERROR
        reply = AGENT_FAILURE
      }
      if (!finished && !stdout.write(reply.bytes)) await new Promise((r) => stdout.once('drain', r))
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
