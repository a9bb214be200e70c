import fs from 'node:fs/promises'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import { AGENT_FAILURE, AGENT_MAX_LEN, type AgentFrame, messageName } from '../../agent/frames.js'
import { ExitCode } from '../../exit-codes.js'
import { type ListenerKind, type Listening, alreadyServed } from '../../listen/listener.js'
import type { Log } from '../../log.js'
import { RelayError, messageOf } from '../../relay-error.js'
import { namedPipeListener } from '../named-pipe/server.js'
import { answerMapping } from './mapping-request.js'
import { discoverPageantPipeName } from './pipe-name.js'
import { UpstreamSession } from './upstream-session.js'

/**
 * relay-listen as Pageant (`--pageant`): relaykit answers where PuTTY-family
 * clients look for Pageant and passes every request to RELAY.
 *
 * - Pageant's named pipe (PuTTY 0.75+ clients try it first), under the name
 *   Pageant computes (pipe-name.ts), served by the named-pipe listener:
 *   this user only, no remote clients, many requests per connection.
 * - Pageant's window (class and title "Pageant") answering WM_COPYDATA: the
 *   window and its message loop live on their own thread
 *   (win32/pageant-window.ts); each request is checked as Pageant checks it
 *   (mapping-request.ts) and passed on over one connection kept for
 *   successive requests (upstream-session.ts), so RELAY runs in-process,
 *   spawned or over --mux exactly as for a pipe client.
 *
 * A request RELAY cannot answer within the timeout, or at all, gets
 * SSH_AGENT_FAILURE. If a window "Pageant" exists already, or another
 * process holds the pipe, Pageant is already served: who serves it is
 * reported and nothing is created.
 */

/** What the address "Pageant" is made of. */
export interface PageantServeOptions {
  /** Serve the named pipe (`--no-pipe` turns it off). */
  pipe: boolean
  /** Serve the WM_COPYDATA window (`--no-window` turns it off). */
  window: boolean
  /** How long a WM_COPYDATA request may take before it is answered SSH_AGENT_FAILURE. */
  timeoutMs: number
  /** RELAY as typed, shown to other programs (doctor) on the window. */
  upstream: string
  /** Write `IdentityAgent <pipe>` here, as `pageant --openssh-config FILE` does (emptied on close, as Pageant does). */
  opensshConfig?: string
}

/** The window property that marks relaykit's Pageant window; its value is the serving process id. */
export const RELAYKIT_WINDOW_MARK = 'relaykit.pageant'
/** How much longer than the request timeout the window thread waits before answering 0 on its own. */
const WINDOW_GRACE_MS = 2000

export function pageantListener(options: PageantServeOptions): ListenerKind {
  return {
    what: 'Pageant (named pipe and WM_COPYDATA window)',
    async listen(_address, onConnection, { log }) {
      if (process.platform !== 'win32') throw new RelayError('--pageant serves PuTTY on Windows: run relaykit.exe on Windows', ExitCode.USAGE)
      const owner = await pageantWindowOwner()
      if (owner) return alreadyServed(owner)
      const pipeName = await discoverPageantPipeName()
      const parts: Listening[] = []
      try {
        if (options.pipe) {
          const pipe = await namedPipeListener.listen(pipeName, onConnection, { log })
          if (pipe.alreadyServed) return alreadyServed(`another process, on Pageant's pipe ${pipeName}`)
          parts.push(pipe)
          log.debug(`serving Pageant's pipe ${pipeName}`)
        }
        if (options.window) {
          parts.push(await serveWindow(onConnection, options, log))
          log.debug('serving the Pageant window')
        }
        if (options.opensshConfig && options.pipe) await writeOpensshConfig(options.opensshConfig, pipeName)
      } catch (err) {
        await Promise.all(parts.map((p) => p.close()))
        throw err
      }
      return {
        alreadyServed: false,
        async close() {
          await Promise.all(parts.map((p) => p.close()))
          if (options.opensshConfig && options.pipe) await fs.writeFile(options.opensshConfig, '').catch(() => {})
        },
      }
    },
    async isLive() {
      if (process.platform !== 'win32') return false
      if (options.window && (await pageantWindowOwner())) return true
      return options.pipe && namedPipeListener.isLive(await discoverPageantPipeName())
    },
  }
}

async function serveWindow(onConnection: (connection: Duplex) => void, { timeoutMs, upstream }: PageantServeOptions, log: Log): Promise<Listening> {
  const [{ openPageantWindow }, { openSharedMemory }, { currentUserSid, tokenDefaultOwnerSid }] = await Promise.all([
    import('../../win32/pageant-window.js'),
    import('../../win32/file-mapping.js'),
    import('../../win32/security.js'),
  ])
  const owners = Promise.all([currentUserSid(), tokenDefaultOwnerSid()])
  const session = new UpstreamSession(onConnection, AGENT_MAX_LEN)
  const peer = { open: openSharedMemory, trustedOwners: () => owners, ask: (request: AgentFrame) => ask(request, session, timeoutMs, log) }
  const window = await openPageantWindow({
    className: 'Pageant',
    title: 'Pageant',
    mark: RELAYKIT_WINDOW_MARK,
    note: upstream,
    waitMs: timeoutMs + WINDOW_GRACE_MS,
    async onRequest(name) {
      const refusal = await answerMapping(name, peer).catch((err: unknown) => `failed: ${messageOf(err)}`)
      if (refusal) log.error(`WM_COPYDATA request refused: ${refusal}`)
      return refusal ? 'refused' : 'answered'
    },
    onExit: (reason) => log.error(reason),
  }).catch((err: unknown) => {
    throw new RelayError(`cannot create the Pageant window: ${messageOf(err)}`)
  })
  return {
    alreadyServed: false,
    async close() {
      await window.close()
      session.close()
    },
  }
}

/** One request through RELAY; SSH_AGENT_FAILURE when it gives no answer in time. */
async function ask(request: AgentFrame, session: UpstreamSession, timeoutMs: number, log: Log): Promise<AgentFrame> {
  try {
    const frame = await session.ask(request, timeoutMs)
    log.debug(`WM_COPYDATA ${messageName(request.type)} (${request.length} bytes) → ${messageName(frame.type)} (${frame.length} bytes)`)
    return frame
  } catch (err) {
    log.error(`WM_COPYDATA ${messageName(request.type)}: ${messageOf(err)}; answered SSH_AGENT_FAILURE`)
    return AGENT_FAILURE
  }
}

/**
 * Who owns the window "Pageant", or undefined when there is none: relaykit
 * (by the mark its window carries) or another program, with its process id
 * and executable where Windows tells them.
 */
export async function pageantWindowOwner(): Promise<string | undefined> {
  const [{ findWindow, globalAtomName, windowProcessId, windowProperty }, { processImage }] = await Promise.all([
    import('../../win32/window-messages.js'),
    import('../../win32/process-image.js'),
  ])
  const hwnd = await findWindow('Pageant', 'Pageant')
  if (!hwnd) return undefined
  const pid = await windowProcessId(hwnd)
  const image = pid ? await processImage(pid) : undefined
  const relaykit = (await windowProperty(hwnd, RELAYKIT_WINDOW_MARK)) !== 0
  const program = image ? path.win32.basename(image) : 'a program'
  const who = pid ? ` (pid ${pid}${relaykit && image ? `, ${image}` : ''})` : ''
  if (!relaykit) return `${program}${who}: a Pageant that is not relaykit`
  const note = await windowProperty(hwnd, `${RELAYKIT_WINDOW_MARK}.note`)
  const upstream = note ? await globalAtomName(note) : undefined
  return `relaykit${who}${upstream ? `, passing requests to ${upstream}` : ''}`
}

/** The line `pageant --openssh-config FILE` writes (LF; Windows' C runtime makes it CRLF in text mode, so we write CRLF). */
async function writeOpensshConfig(file: string, pipeName: string): Promise<void> {
  try {
    await fs.writeFile(file, `IdentityAgent ${pipeName}\r\n`)
  } catch (err) {
    throw new RelayError(`cannot write ${file}: ${messageOf(err)}`)
  }
}
