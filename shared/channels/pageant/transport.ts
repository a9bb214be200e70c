import { AgentStreamClient } from '../../agent/client.js'
import type { AgentFrame } from '../../agent/frames.js'
import { ExitCode } from '../../exit-codes.js'
import type { Log } from '../../log.js'
import { connectPipe } from '../named-pipe/client.js'
import { RelayError, errorCode } from '../../relay-error.js'
import { discoverPageantPipeName } from './pipe-name.js'
import { type RememberHost, recallPipeName, rememberPipeName, windowsRememberHost } from './remembered-pipe-name.js'
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
  /** Where the discovered pipe name is remembered; default: the user's, from the environment. */
  remember?: RememberHost
  /** Computes the pipe name; default: as Pageant does (pipe-name.ts). */
  discover?: () => Promise<string>
}

/**
 * Answers agent requests through Pageant the way PuTTY's own client does:
 * its named pipe first (Pageant 0.75+), WM_COPYDATA when there is no pipe
 * (older Pageant, KeeAgent and other Pageant emulators). Checked again on
 * every request, so a Pageant started or restarted mid-session is found.
 *
 * The pipe name is taken from the last start when it still holds
 * (remembered-pipe-name.ts): then it is not computed again. A remembered
 * name whose pipe is missing is computed again, once, before the pipe counts
 * as missing.
 */
export class PageantTransport {
  #options: PageantTransportOptions
  #pipeName: Promise<string> | undefined
  #pipe: AgentStreamClient | undefined
  /** The current name came from the remembered file, not from computing it. */
  #recalled = false
  /** What the file held at start, so an unchanged name is not written again. */
  #recalledName: string | undefined

  constructor(options: PageantTransportOptions) {
    this.#options = options
  }

  async query(request: AgentFrame): Promise<AgentFrame> {
    const { mode, log } = this.#options
    if (mode !== 'wmcopydata') {
      try {
        return await this.#queryPipe(request)
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

  /**
   * Starts loading what every query needs on Windows, koffi (with its cache
   * check) and the kernel32 bindings, before the first request is there:
   * under Wine that is tens of milliseconds on the main thread, which a
   * caller that has already asked for stdin (`read(0)`) spends while the
   * thread pool reads the request, instead of after it arrived. A failure
   * is left for that query to meet and report.
   */
  prepare(): void {
    if (process.platform !== 'win32') return
    void import('../../win32/kernel32.js').then((m) => m.kernel32()).catch(() => {})
  }

  close(): void {
    this.#pipe?.close()
  }

  async #queryPipe(request: AgentFrame): Promise<AgentFrame> {
    try {
      return await (await this.#pipeClient()).query(request)
    } catch (err) {
      if (!this.#recalled || !pipeMissing(err)) throw err
      this.#options.log.debug('the remembered Pageant pipe is gone; computing its name again')
      this.#pipe?.close()
      this.#pipe = undefined
      this.#pipeName = this.#discover()
      return await (await this.#pipeClient()).query(request)
    }
  }

  #remember(): RememberHost {
    return (this.#options.remember ??= windowsRememberHost(process.env))
  }

  /** Computes the name and remembers it for the next start. */
  async #discover(): Promise<string> {
    this.#recalled = false
    const name = await (this.#options.discover ?? discoverPageantPipeName)()
    const failed = name === this.#recalledName ? undefined : await rememberPipeName(this.#remember(), name)
    if (failed) this.#options.log.debug(`cannot remember the Pageant pipe name: ${failed.message}`)
    return name
  }

  #firstName(): Promise<string> {
    if (this.#options.pipeName) return Promise.resolve(this.#options.pipeName)
    const recalled = recallPipeName(this.#remember())
    if (!recalled) return this.#discover()
    this.#recalled = true
    this.#recalledName = recalled
    return Promise.resolve(recalled)
  }

  async #pipeClient(): Promise<AgentStreamClient> {
    if (this.#pipe) return this.#pipe
    this.#pipeName ??= this.#firstName()
    const name = await this.#pipeName
    this.#options.log.debug(`Pageant pipe${this.#recalled ? ' (remembered)' : ''}: ${name}`)
    this.#pipe = new AgentStreamClient(() => connectPipe(name), { timeoutMs: this.#options.timeoutMs })
    return this.#pipe
  }
}

function pipeMissing(err: unknown): boolean {
  return errorCode(err) === 'ENOENT'
}
