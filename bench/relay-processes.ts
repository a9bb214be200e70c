/**
 * Which processes are "the relay processes" of a setup, for memory figures:
 * the descendants of the process the benchmark started (socat, or a
 * relay-listen listener) whose program is the relay executable. Not the root
 * itself, not socat's per-connection children, not a listener that only
 * names the executable in its arguments, and nothing of anyone else's that
 * happens to run the same executable on this shared machine.
 */
import fs from 'node:fs'

export interface ProcessEntry {
  pid: number
  ppid: number
  /** /proc/<pid>/cmdline split at NULs; argv[0] is the program (under Wine: the .exe, as given to wine64). */
  argv: string[]
  rssKiB: number
}

/** The last component of a Unix or Windows path, lower-cased (Windows names are case-insensitive). */
function baseName(file: string): string {
  return (file.split(/[\\/]/).pop() ?? '').toLowerCase()
}

/** The processes below `root` (not `root` itself) whose argv[0] names the file `exeName`. */
export function relayProcesses(table: readonly ProcessEntry[], root: number, exeName: string): ProcessEntry[] {
  const children = new Map<number, ProcessEntry[]>()
  for (const p of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p])
  const below: ProcessEntry[] = []
  const queue = [...(children.get(root) ?? [])]
  for (let p = queue.shift(); p; p = queue.shift()) {
    below.push(p)
    queue.push(...(children.get(p.pid) ?? []))
  }
  const wanted = baseName(exeName)
  return below.filter((p) => baseName(p.argv[0] ?? '') === wanted)
}

/** Every process readable in /proc now (zombies and vanished ones left out). */
export function readProcessTable(): ProcessEntry[] {
  const table: ProcessEntry[] = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean)
      const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]
      if (argv.length === 0 || rss === undefined) continue
      table.push({ pid: Number(name), ppid, argv, rssKiB: Number(rss) })
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return table
}
