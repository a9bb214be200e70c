import { Worker } from 'node:worker_threads'
import { kernel32, lastError } from './kernel32.js'
import { pageantWindowThread } from './pageant-window-thread.js'
import { postClose } from './window-messages.js'

/**
 * relaykit's Pageant window, seen from the main thread: starts the window
 * thread (pageant-window-thread.ts) and answers its requests. Each
 * WM_COPYDATA arrives here as the name of the client's file mapping; what
 * `onRequest` resolves to is handed back through shared memory and an
 * event, which wakes the window thread out of its wait without it ever
 * stopping to pump messages.
 */

/** What the main thread decides about one WM_COPYDATA. */
export type Verdict = 'answered' | 'refused'

export interface PageantWindowOptions {
  /** Window class and title (PuTTY's clients look for "Pageant", "Pageant"). */
  className: string
  title: string
  /** A window property set to our process id, by which other programs tell this window from another program's. */
  mark: string
  /** A line of text for other programs (what requests are passed to): a global atom in property `<mark>.note`, at most 255 characters. */
  note: string
  /** The longest the window thread waits for a verdict before answering 0 (its own bound, over the relay's). */
  waitMs: number
  /** Decide about the mapping `name`: read the request from it and write the answer into it. */
  onRequest(name: string): Promise<Verdict>
  /** The window thread died unexpectedly. */
  onExit(reason: string): void
}

export interface PageantWindow {
  /** Close the window and end its thread; resolves once the window is gone. */
  close(): Promise<void>
}

/** Create the window; resolves once it exists (FindWindow finds it), rejects if it could not be made. */
export async function openPageantWindow(options: PageantWindowOptions): Promise<PageantWindow> {
  const k = await kernel32()
  // Auto-reset: each SetEvent wakes one wait, which then reads its own verdict.
  const event = k.CreateEventW(null, 0, 0, null) as number
  if (!event) throw lastError(k, 'CreateEvent')
  const worker = new Worker(`(${pageantWindowThread.toString()})()`, {
    eval: true,
    // The source is a CommonJS script: a parent's --input-type=module must not make it a module.
    execArgv: [],
    workerData: { koffiPath: koffiAddonPath(k), event, className: options.className, title: options.title, mark: options.mark, note: options.note, waitMs: options.waitMs },
  })
  let closing = false
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  void exited.then(() => k.CloseHandle(event))
  const hwnd = await new Promise<number>((resolve, reject) => {
    worker.on('message', (m: { ready?: number; failed?: string; request?: string; verdict?: Int32Array }) => {
      if (m.ready !== undefined) resolve(m.ready)
      else if (m.failed !== undefined) reject(new Error(m.failed))
      else if (m.request !== undefined && m.verdict) void settle(m.request, m.verdict)
    })
    worker.once('error', reject)
    worker.once('exit', (code) => {
      reject(new Error(`the Pageant window thread ended (exit code ${code})`))
      if (!closing) options.onExit(`the Pageant window thread ended (exit code ${code})`)
    })
  })

  async function settle(name: string, verdict: Int32Array): Promise<void> {
    let outcome: Verdict = 'refused'
    try {
      outcome = await options.onRequest(name)
    } finally {
      Atomics.store(verdict, 0, outcome === 'answered' ? 1 : -1)
      k.SetEvent(event)
    }
  }

  return {
    async close() {
      if (closing) return exited
      closing = true
      if (!(await postClose(hwnd))) await worker.terminate()
      await exited
    },
  }
}

/** The file koffi's native addon was loaded from: the window thread loads it again from there. */
function koffiAddonPath(k: Awaited<ReturnType<typeof kernel32>>): string {
  const module = k.GetModuleHandleW('koffi.node') as number
  if (!module) throw new Error('koffi.node is not loaded')
  const buf = Buffer.alloc(2 * 32_768)
  const length = k.GetModuleFileNameW(module, buf, buf.length / 2) as number
  if (length === 0) throw lastError(k, 'GetModuleFileName(koffi.node)')
  return buf.toString('utf16le', 0, 2 * length)
}
