import { basename } from 'node:path'

/** The name the program was started under, without directory (a link's name, `npiperelay.exe` …). */
export function invokedName(argv: readonly string[], execPath: string, isSea: boolean): string {
  const file = isSea ? execPath : (argv[1] ?? 'relaykit')
  return basename(file.replace(/\\/g, '/'))
}
