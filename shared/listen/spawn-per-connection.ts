import { type ChildProcess, spawn } from 'node:child_process'
import type { Duplex, Writable } from 'node:stream'
import type { Log } from '../log.js'
import { messageOf } from '../relay-error.js'

/**
 * Spawn mode: one process per connection, with the connection as its
 * stdin/stdout (what `socat …,fork EXEC:` does), for commands that are not
 * relaykit relays of this platform — e.g. a Windows relaykit.exe started
 * from WSL.
 *
 * Unlike socat, the child never outlives its connection: once the client
 * is gone the child's stdin is closed, and a child still running
 * `graceMs` later gets SIGTERM, then SIGKILL.
 *
 * | event | what happens |
 * |---|---|
 * | client half-closes | child's stdin ends |
 * | child's stdout ends | connection shut down for writing |
 * | child exits | connection closed once its output is flushed |
 * | client gone entirely | stdin ends and stdout is closed (a child still writing gets EPIPE and ends as a relay does when its reader leaves); SIGTERM after `graceMs`, SIGKILL after 2 × `graceMs` for one that does not |
 */
export function spawnForConnection(
  socket: Duplex,
  command: readonly string[],
  options: { log: Log; stderr: Writable; env: NodeJS.ProcessEnv; graceMs?: number },
): Promise<void> {
  const { log } = options
  const grace = options.graceMs ?? 2000
  const [file, ...args] = command as [string, ...string[]]
  return new Promise((resolve) => {
    let child: ChildProcess
    try {
      child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env })
    } catch (err) {
      log.error(`cannot start ${file}: ${messageOf(err)}`)
      socket.destroy()
      return resolve()
    }
    let exited = false
    let socketClosed = false
    const settle = () => exited && socketClosed && resolve()

    child.once('error', (err) => {
      log.error(`cannot start ${file}: ${messageOf(err)}`)
      exited = true
      socket.destroy()
    })
    child.stderr?.on('data', (d: Buffer) => options.stderr.write(d))
    child.stdin?.on('error', () => {}) // the child may stop reading; its exit tells the rest
    socket.on('error', (err) => log.debug(`connection error: ${messageOf(err)}`))

    socket.pipe(child.stdin!)
    child.stdout!.pipe(socket, { end: true })
    socket.resume()

    child.once('exit', (code, signal) => {
      exited = true
      log.debug(`child ${child.pid} exited (${signal ?? code})`)
      // Its last output is flushed when stdout ends; then the connection goes.
      if (child.stdout!.readableEnded) socket.end()
      else child.stdout!.once('end', () => socket.end())
      settle()
    })
    socket.once('close', () => {
      socketClosed = true
      if (!exited) {
        child.stdin!.end()
        child.stdout!.destroy()
        const term = setTimeout(() => child.kill('SIGTERM'), grace)
        const kill = setTimeout(() => child.kill('SIGKILL'), 2 * grace)
        child.once('exit', () => {
          clearTimeout(term)
          clearTimeout(kill)
        })
      }
      settle()
    })
  })
}
