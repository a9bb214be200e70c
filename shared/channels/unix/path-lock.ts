import { createHash } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'

/**
 * A lock across processes for one socket path, held while a listener looks
 * at the file, removes it if stale and binds its own. Without it, two
 * listeners started at once over a stale socket (a terminal restoring
 * several tabs after an unclean WSL shutdown) can both find it stale, and
 * the second removes the first one's fresh socket: two listeners, one of
 * them serving a file that no longer exists.
 *
 * The lock is a socket bound in Linux's abstract namespace: binding is
 * atomic and exclusive, and the kernel releases it when the process dies,
 * so no lock file is ever left behind. Elsewhere (macOS) there is no
 * abstract namespace and nothing is locked. Someone holding the name
 * longer than `waitMs` (another user squatting it) only costs the wait.
 */
export async function withPathLock<T>(socketPath: string, work: () => Promise<T>, waitMs = 5000): Promise<T> {
  if (process.platform !== 'linux') return work()
  const name = `\0relaykit-listen-${process.getuid?.() ?? ''}-${createHash('sha256').update(path.resolve(socketPath)).digest('hex').slice(0, 32)}`
  const lock = await acquire(name, Date.now() + waitMs)
  try {
    return await work()
  } finally {
    lock?.close()
  }
}

async function acquire(name: string, deadline: number): Promise<net.Server | undefined> {
  for (;;) {
    const server = net.createServer()
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(name, () => resolve(true))
    })
    if (bound) return server.unref()
    if (Date.now() > deadline) return undefined
    await new Promise((r) => setTimeout(r, 20))
  }
}
