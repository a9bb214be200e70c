import path from 'node:path'
import { markSharedProcess } from '../agent/process-scope.js'
import type { Duplex } from 'node:stream'
import type { Log } from '../log.js'
import type { MuxProcess } from '../mux/mux-process.js'
import type { FindRelay, RelayDefinition, RelayIo } from '../relay.js'
import { messageOf } from '../relay-error.js'
import { spawnForConnection } from './spawn-per-connection.js'

/**
 * What relay-listen does with each accepted connection, in one of three
 * modes: run a relaykit relay in this process, spawn the command per
 * connection, or open a stream on the long-lived mux process.
 */
export type ConnectionHandler = ((connection: Duplex) => Promise<void>) & { readonly mode: 'in-process' | 'spawn' | 'mux' }

export interface HandlerContext {
  log: Log
  stderr: RelayIo['stderr']
  env: NodeJS.ProcessEnv
}

/** `--mux`: each connection becomes a stream of the one mux process. */
export function muxHandler(mux: MuxProcess, log: Log): ConnectionHandler {
  return Object.assign(
    async (connection: Duplex) => {
      let stream
      try {
        stream = await mux.stream()
      } catch (err) {
        log.error(`no mux to serve the connection: ${messageOf(err)}`)
        connection.destroy()
        return
      }
      await bridge(connection, stream)
    },
    { mode: 'mux' as const },
  )
}

/**
 * Connection <-> mux stream, half-close carried both ways; whichever side
 * goes away abruptly takes the other with it (a client gone: CLOSE to the
 * mux; the mux gone: the client sees EOF at once).
 */
function bridge(connection: Duplex, stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    connection.on('error', () => {})
    stream.on('error', () => {})
    connection.pipe(stream)
    stream.pipe(connection)
    connection.resume()
    let pending = 2
    const done = () => --pending === 0 && resolve()
    connection.once('close', () => {
      if (!stream.destroyed) stream.destroy()
      done()
    })
    stream.once('close', () => {
      if (stream.readableEnded) connection.end()
      else connection.destroy()
      done()
    })
  })
}

/**
 * In-process when the command names a relaykit relay that can run here
 * (`relaykit RELAY …`, `RELAY …`, a link named after one); a Windows .exe
 * seen from Linux is spawned, like anything else that is not ours.
 */
export function connectionHandler(command: readonly string[], forceSpawn: boolean, findRelay: FindRelay, ctx: HandlerContext): ConnectionHandler {
  const inProcess = forceSpawn ? undefined : relayOf(command, findRelay)
  if (inProcess) {
    const { relay, args } = inProcess
    markSharedProcess() // every connection's relay runs here: agent state outlives a connection (emulation.ts)
    return Object.assign(
      async (connection: Duplex) => {
        // Not resumed here: the relay starts reading when it attaches its
        // listeners (after connecting its channel); flowing earlier would
        // drop what the client sent first.
        const code = await relay.main(args, { stdin: connection, stdout: connection, stderr: ctx.stderr, env: ctx.env })
        ctx.log.debug(`${relay.name} ended with exit code ${code}`)
        connection.destroy()
      },
      { mode: 'in-process' as const },
    )
  }
  return Object.assign((connection: Duplex) => spawnForConnection(connection, command, ctx), { mode: 'spawn' as const })
}

function relayOf(command: readonly string[], findRelay: FindRelay): { relay: RelayDefinition; args: readonly string[] } | undefined {
  const [first, ...rest] = command
  if (!first) return undefined
  const base = path.basename(first.replace(/\\/g, '/'))
  const foreignExe = /\.exe$/i.test(base) && process.platform !== 'win32'
  if (foreignExe) return undefined
  const runnable = (name: string) => {
    const relay = findRelay(name)
    return relay?.name === 'relay-listen' ? undefined : relay // a listener per connection makes no sense
  }
  const direct = runnable(base)
  if (direct) return { relay: direct, args: rest }
  if (/^relaykit([-_.].*)?$/i.test(base) && rest[0]) {
    const named = runnable(rest[0])
    if (named) return { relay: named, args: rest.slice(1) }
  }
  return undefined
}
