/**
 * One-way throughput, timed by the receiving end: from the moment the sink
 * accepts a connection to the moment it holds all the bytes. Every row of a
 * throughput group is timed this way, whoever sends: a client that connects
 * itself, or a relay process that first has to start (under Wine, hundreds
 * of ms) and connect. Start-up is measured by its own rows; here it would
 * only dilute the rate of moving data.
 */
import type { ChildProcess } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import net from 'node:net'
import { now } from './measure.js'

/** What a sink saw of one connection, in ms on the sink's own clock. */
export interface Transfer {
  connected: number
  done: number
  bytes: number
}

export function mibPerSecond(t: Transfer): number {
  const ms = t.done - t.connected
  if (!(ms > 0)) throw new Error(`transfer of ${t.bytes} bytes took ${ms} ms: no rate`)
  return t.bytes / (1 << 20) / (ms / 1000)
}

/** A Unix socket that swallows `total` bytes per connection, then closes it; each full transfer is emitted. */
export class SocketSink extends EventEmitter {
  private constructor(
    readonly server: net.Server,
    readonly total: number,
  ) {
    super()
  }

  static async listen(path: string, total: number): Promise<SocketSink> {
    const server = net.createServer()
    const sink = new SocketSink(server, total)
    server.on('connection', (c) => sink.serve(c))
    await new Promise<void>((resolve) => server.listen(path, resolve))
    return sink
  }

  private serve(c: net.Socket): void {
    const connected = now()
    let bytes = 0
    c.on('data', (d: Buffer) => {
      const before = bytes
      bytes += d.length
      if (before < this.total && bytes >= this.total) {
        this.emit('transfer', { connected, done: now(), bytes } satisfies Transfer)
        c.end()
      }
    })
    c.on('error', () => {})
  }

  /** The next full transfer; call it before the sender connects. */
  async next(): Promise<Transfer> {
    const [t] = (await once(this, 'transfer')) as [Transfer]
    return t
  }

  close(): void {
    this.server.close()
  }
}

/** Connect to `socket` and send `sink.total` bytes through it; the transfer as the sink saw it. */
export async function sendThrough(socket: string, sink: SocketSink): Promise<Transfer> {
  const transfer = sink.next()
  const s = await new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(socket, () => resolve(c))
    c.once('error', reject)
  })
  const chunk = Buffer.alloc(256 * 1024, 0x5a)
  await new Promise<void>((resolve) => {
    let sent = 0
    s.on('close', () => resolve())
    s.on('error', () => {})
    s.resume()
    const pump = () => {
      while (sent < sink.total) {
        sent += chunk.length
        if (!s.write(chunk)) return void s.once('drain', pump)
      }
    }
    pump()
  })
  return settled(transfer, `the connection to ${socket} closed and its sink saw no transfer of ${sink.total} bytes`)
}

/**
 * Feed `total` bytes to a relay process's stdin (it is started already, e.g.
 * under Wine) and wait for it to exit; the transfer as its sink saw it, so
 * the relay's start-up stays outside the timed window.
 */
export async function pushThrough(relay: ChildProcess, total: number, transfer: Promise<Transfer>): Promise<Transfer> {
  const stdin = relay.stdin
  if (!stdin) throw new Error('the relay needs a stdin pipe')
  const exited = once(relay, 'exit')
  stdin.on('error', () => {})
  const chunk = Buffer.alloc(256 * 1024, 7)
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain'), exited])
    if (relay.exitCode !== null || relay.signalCode !== null) break
  }
  stdin.end()
  const [code] = (await exited) as [number | null]
  return settled(transfer, `the relay exited (${code}) and its sink saw no transfer of ${total} bytes`)
}

/** `transfer` once the sender is done: it is due within seconds, or it is not coming. */
function settled(transfer: Promise<Transfer>, otherwise: string): Promise<Transfer> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(otherwise)), 10_000)
  })
  return Promise.race([transfer, late]).finally(() => clearTimeout(timer))
}
