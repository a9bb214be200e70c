import { type ChildProcess, spawn } from 'node:child_process'
import type { Writable } from 'node:stream'
import type { Log } from '../log.js'
import { MUX_HELLO } from './mux-frames.js'
import { MuxSession, type MuxStream } from './mux-session.js'
import { messageOf } from '../relay-error.js'

/**
 * The listener's side of `--mux`: one long-lived `relaykit mux …` process
 * (often a Windows relaykit.exe started from WSL), restarted with backoff
 * when it dies. Streams of a process that died fail at once, so their
 * clients see EOF instead of waiting; new connections wait for the restart.
 */
export class MuxProcess {
  readonly #command: readonly string[]
  readonly #log: Log
  readonly #stderr: Writable
  readonly #env: NodeJS.ProcessEnv
  #ready: Promise<MuxSession> | undefined
  #child: ChildProcess | undefined
  #backoffMs = 0
  #stopped = false

  constructor(command: readonly string[], ctx: { log: Log; stderr: Writable; env: NodeJS.ProcessEnv }) {
    this.#command = command
    this.#log = ctx.log
    this.#stderr = ctx.stderr
    this.#env = ctx.env
  }

  /** A new stream on a running mux (started or restarted as needed). */
  async stream(): Promise<MuxStream> {
    for (let attempt = 0; ; attempt++) {
      this.#ready ??= this.#start()
      try {
        return (await this.#ready).open()
      } catch (err) {
        this.#ready = undefined
        if (attempt >= 3 || this.#stopped) throw err
      }
    }
  }

  /** The pid of the current mux process, if one runs. */
  get pid(): number | undefined {
    return this.#child?.exitCode === null ? this.#child.pid : undefined
  }

  stop(): void {
    this.#stopped = true
    this.#child?.kill()
  }

  async #start(): Promise<MuxSession> {
    if (this.#backoffMs) await new Promise((r) => setTimeout(r, this.#backoffMs))
    const [file, ...args] = this.#command as [string, ...string[]]
    const started = Date.now()
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: this.#env })
    this.#child = child
    child.stderr?.on('data', (d: Buffer) => this.#stderr.write(d))
    child.stdin?.on('error', () => {}) // its exit is reported below
    const session = new MuxSession(child.stdout!, child.stdin!, { log: this.#log })
    const hello = new Promise<MuxSession>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file} did not start a mux within 30 s`)), 30_000)
      session.once('hello', (text: string) => {
        clearTimeout(timer)
        if (text === MUX_HELLO) resolve(session)
        else reject(new Error(`${file} speaks "${text}", not ${MUX_HELLO}`))
      })
      child.once('error', (err) => {
        clearTimeout(timer)
        reject(new Error(`cannot start ${file}: ${messageOf(err)}`))
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`${file} exited (${signal ?? code}) before it was ready`))
      })
    })
    child.once('exit', (code, signal) => {
      const lived = Date.now() - started
      this.#log.error(`mux process ${child.pid} exited (${signal ?? code}); its streams fail, the next connection restarts it`)
      session.close(new Error('the mux process exited'))
      if (this.#child === child) this.#ready = undefined
      // Back off only when it keeps dying young.
      this.#backoffMs = lived < 5000 ? Math.min(Math.max(this.#backoffMs * 2, 100), 5000) : 0
    })
    const s = await hello
    this.#log.debug(`mux process ${child.pid} ready: ${this.#command.join(' ')}`)
    return s
  }
}
