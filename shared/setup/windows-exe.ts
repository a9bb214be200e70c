import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../exit-codes.js'
import { FlagError } from '../go-flags.js'
import { RelayError } from '../relay-error.js'

/**
 * Where relaykit.exe is for WSL, and where it should be. Started from the
 * Linux file system (/home/…) each start of a Windows program costs
 * seconds (the file is served to Windows over the 9P share); from /mnt/c it
 * takes about 150 ms. So setup copies it to the user's private Windows
 * folder for programs, %LOCALAPPDATA%\Programs\relaykit.
 */

/** `/mnt/c/…`: the Windows file system as WSL mounts it. */
export function onWindowsDrive(p: string): boolean {
  return /^\/mnt\/[a-z]\//i.test(p)
}

/** relaykit.exe on PATH (WSL appends the Windows PATH to its own). */
export function exeOnPath(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue
    const candidate = path.join(dir, 'relaykit.exe')
    if (fs.existsSync(candidate)) return candidate
  }
  return undefined
}

/** %LOCALAPPDATA%\Programs\relaykit as WSL sees it, through interop; undefined without interop. */
export function windowsProgramsDirectory(): string | undefined {
  const local = spawnSync('cmd.exe', ['/d', '/c', 'echo %LOCALAPPDATA%'], { encoding: 'utf8', cwd: '/mnt/c', timeout: 10_000 })
  const windowsPath = local.status === 0 ? local.stdout.trim() : ''
  if (!/^[A-Za-z]:\\/.test(windowsPath)) return undefined
  const wsl = spawnSync('wslpath', ['-u', windowsPath], { encoding: 'utf8', timeout: 10_000 })
  const dir = wsl.status === 0 ? wsl.stdout.trim() : ''
  return dir ? path.posix.join(dir, 'Programs', 'relaykit') : undefined
}

/**
 * relaykit.exe as WSL should run it (`exe`, else relaykit.exe on PATH), and
 * the file to copy there first when it lives on the Linux file system (to
 * `windowsDir`, else %LOCALAPPDATA%\\Programs\\relaykit found through interop).
 */
export function locateWindowsExe(exe: string | undefined, windowsDir: string | undefined, env: NodeJS.ProcessEnv): { runAs: string; copyFrom: string | undefined } {
  const found = exe ? path.resolve(exe) : exeOnPath(env)
  if (!found) throw new FlagError('no relaykit.exe on PATH: pass --exe PATH (the relaykit.exe for Windows, from relaykit-…-win-x64.zip)')
  if (onWindowsDrive(found)) return { runAs: found, copyFrom: undefined }
  const dir = windowsDir ? path.resolve(windowsDir) : windowsProgramsDirectory()
  if (!dir) {
    throw new RelayError(
      `${found} is on the Linux file system, where each start takes seconds; WSL interop could not tell where %LOCALAPPDATA% is: pass --windows-dir /mnt/c/Users/YOU/AppData/Local/Programs/relaykit`,
      ExitCode.USAGE,
    )
  }
  return { runAs: path.join(dir, 'relaykit.exe'), copyFrom: found }
}
