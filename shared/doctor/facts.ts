import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import { connectPipe, isPipeName } from '../channels/named-pipe/client.js'
import { connectPath } from '../channels/socket-path.js'

/**
 * Everything doctor learns from the machine, behind one interface so the
 * checks can be run against a made-up machine: a WSL distribution with
 * interop switched off, an .exe under /home, a Windows box, all from a
 * Linux test. {@link hostFacts} is the real machine.
 */
export interface DoctorFacts {
  readonly platform: NodeJS.Platform
  readonly env: NodeJS.ProcessEnv
  /** The program running doctor (the relaykit executable, or node). */
  readonly self: string
  /** What is at `p` (following symlinks), or undefined when nothing is. */
  fileKind(p: string): FileKind | undefined
  /** A small file's bytes, or undefined when it cannot be read. */
  readFile(p: string): Buffer | undefined
  /** `p` with symlinks resolved (or `p` itself when that fails). */
  realpath(p: string): string
  /** The first executable file called `name` on PATH. */
  which(name: string): string | undefined
  /**
   * Connect to an agent's endpoint: a Windows named pipe (`\\.\pipe\…`,
   * `//./pipe/…`), a Unix socket, or a Cygwin/libassuan socket file.
   */
  connect(endpoint: string): Promise<Duplex>
  /** Run a program to completion (at most `timeoutMs`) and time it. */
  run(file: string, args: readonly string[], timeoutMs: number): Promise<RunResult>
}

export type FileKind = 'socket' | 'file' | 'directory' | 'other'

export interface RunResult {
  /** Exit code; null when it was killed (timeout) or could not start. */
  readonly code: number | null
  readonly ms: number
  readonly stdout: string
  /** Why it did not start or finish (ENOEXEC, timeout …). */
  readonly error?: string
}

/** The machine doctor runs on. */
export function hostFacts(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): DoctorFacts {
  return {
    platform,
    env,
    self: process.execPath,
    fileKind(p) {
      try {
        const st = fs.statSync(p)
        return st.isSocket() ? 'socket' : st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other'
      } catch {
        return undefined
      }
    },
    readFile(p) {
      try {
        return fs.readFileSync(p)
      } catch {
        return undefined
      }
    },
    realpath(p) {
      try {
        return fs.realpathSync(p)
      } catch {
        return p
      }
    },
    which(name) {
      const dirs = (env.PATH ?? '').split(platform === 'win32' ? ';' : ':').filter(Boolean)
      for (const dir of dirs) {
        const candidate = path.join(dir, name)
        try {
          fs.accessSync(candidate, fs.constants.X_OK)
          if (fs.statSync(candidate).isFile()) return candidate
        } catch {
          // Not here.
        }
      }
      return undefined
    },
    connect(endpoint) {
      return isPipeName(endpoint) ? connectPipe(endpoint) : connectPath(endpoint)
    },
    run(file, args, timeoutMs) {
      const started = performance.now()
      return new Promise((resolve) => {
        execFile(file, args, { timeout: timeoutMs, encoding: 'utf8', windowsHide: true }, (err, stdout) => {
          const ms = performance.now() - started
          if (!err) return resolve({ code: 0, ms, stdout })
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown }
          const code = typeof e.code === 'number' ? e.code : null
          const error = e.killed ? `no exit within ${timeoutMs} ms` : typeof e.code === 'string' ? e.code : e.message
          resolve({ code, ms, stdout, error })
        })
      })
    },
  }
}
