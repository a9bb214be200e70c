import { AgentStreamClient } from '../../agent/client.js'
import type { AgentFrame } from '../../agent/frames.js'
import { ExitCode } from '../../exit-codes.js'
import type { Log } from '../../log.js'
import { connectPipe } from '../named-pipe/client.js'
import { RelayError, errorCode } from '../../relay-error.js'
import { discoverPageantPipeName } from './pipe-name.js'
import { pageantWindow, queryByCopyData } from './wm-copydata.js'

/** Which of Pageant's two doors to use. */
export const TRANSPORT_MODES = ['auto', 'pipe', 'wmcopydata'] as const
export type TransportMode = (typeof TRANSPORT_MODES)[number]

export interface PageantTransportOptions {
  mode: TransportMode
  /** Talk to this pipe (or socket) instead of discovering Pageant's (`--ssh`). */
  pipeName?: string
  timeoutMs: number
  log: Log
}

/**
 * Answers agent requests through Pageant the way PuTTY's own client does:
 * its named pipe first (Pageant 0.75+), WM_COPYDATA when there is no pipe
 * (older Pageant, KeeAgent and other Pageant emulators). Checked again on
 * every request, so a Pageant started or restarted mid-session is found.
 */
export class PageantTransport {
  #options: PageantTransportOptions
  #pipeName: Promise<string> | undefined
  #pipe: AgentStreamClient | undefined

  constructor(options: PageantTransportOptions) {
    this.#options = options
  }

  async query(request: AgentFrame): Promise<AgentFrame> {
    const { mode, log } = this.#options
    if (mode !== 'wmcopydata') {
      try {
        return await (await this.#pipeClient()).query(request)
      } catch (err) {
        if (!pipeMissing(err)) throw err
        if (this.#options.pipeName) {
          throw new RelayError(`no agent listens on ${this.#options.pipeName}: is it running?`, ExitCode.UNAVAILABLE)
        }
        if (mode === 'pipe') {
          throw new RelayError(
            `Pageant is not running: no pipe ${await this.#pipeName} (Pageant before 0.75 has no pipe: use --transport wmcopydata)`,
            ExitCode.UNAVAILABLE,
          )
        }
        log.debug('no Pageant pipe; trying WM_COPYDATA')
      }
    }
    const hwnd = await pageantWindow()
    if (!hwnd) {
      const noPipe = mode === 'auto' ? `no pipe ${await this.#pipeName} and ` : ''
      throw new RelayError(
        `Pageant is not running: ${noPipe}no window of class Pageant. Start Pageant (or KeeAgent / KeePassXC with Pageant support)`,
        ExitCode.UNAVAILABLE,
      )
    }
    return queryByCopyData(hwnd, request, this.#options.timeoutMs)
  }

  close(): void {
    this.#pipe?.close()
  }

  async #pipeClient(): Promise<AgentStreamClient> {
    if (this.#pipe) return this.#pipe
    this.#pipeName ??= this.#options.pipeName ? Promise.resolve(this.#options.pipeName) : discoverPageantPipeName()
    const name = await this.#pipeName
    this.#options.log.debug(`Pageant pipe: ${name}`)
    this.#pipe = new AgentStreamClient(() => connectPipe(name), { timeoutMs: this.#options.timeoutMs })
    return this.#pipe
  }
}

function pipeMissing(err: unknown): boolean {
  return errorCode(err) === 'ENOENT'
}
