import { createHash } from 'node:crypto'

/**
 * What `relaykit setup` puts on a machine, as data: the desired state is a
 * list of artifacts, and the manifest keeps a {@link Done} record of each
 * one setup made, so that a second run changes nothing and `--remove`
 * takes away exactly what was made and nothing the user made.
 */
export type Artifact = FileArtifact | SymlinkArtifact | BlockArtifact | RunKeyArtifact

/** A file setup owns whole: a unit file, the copied Windows executable. */
export interface FileArtifact {
  readonly kind: 'file'
  readonly path: string
  readonly content: Buffer
  readonly mode: number
}

/** `systemctl --user enable` done by hand: the link in sockets.target.wants. */
export interface SymlinkArtifact {
  readonly kind: 'symlink'
  readonly path: string
  readonly target: string
}

/** A marked block in a file that is the user's (a shell startup file). */
export interface BlockArtifact {
  readonly kind: 'block'
  readonly path: string
  readonly text: string
  /** The first line of every relaykit block in that file. */
  readonly marker: string
}

/** A value under HKCU\Software\Microsoft\Windows\CurrentVersion\Run: started at logon. */
export interface RunKeyArtifact {
  readonly kind: 'run-key'
  readonly name: string
  readonly command: string
}

/** The record of one thing setup made, as the manifest keeps it. */
export type Done =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'file'; readonly path: string; readonly sha256: string }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  /** `inserted` is exactly what was added, so removing it gives the file back byte for byte. */
  | { readonly kind: 'block'; readonly path: string; readonly inserted: string; readonly createdFile: boolean }
  | { readonly kind: 'run-key'; readonly name: string; readonly command: string }

/** Artifacts and records of the same thing share a key. */
export function keyOf(x: Artifact | Done): string {
  return x.kind === 'run-key' ? `run-key:${x.name}` : `${x.kind}:${x.path}`
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}
