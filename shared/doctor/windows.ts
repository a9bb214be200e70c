import path from 'node:path'
import type { AgentFrame } from '../agent/frames.js'
import { parseAssuanFile } from '../channels/assuan/client.js'
import { parseCygwinSocketFile } from '../channels/cygwin/format.js'
import { ExitCode } from '../exit-codes.js'
import { RelayError, errorCode, messageOf } from '../relay-error.js'
import { gpgSocketCandidates } from '../channels/assuan/gpg-socket.js'
import { REQUEST_IDENTITIES, countIdentities, probeAgent, within } from './agent-probe.js'
import { type CheckResult, agentRow, failedAt } from './check.js'
import type { DoctorFacts } from './facts.js'

/**
 * The Windows agents and sockets relaykit bridges to: Pageant (its window
 * and its named pipe), the Windows OpenSSH agent's pipe (also served by
 * 1Password and Bitwarden), gpg4win's socket files in both places Gpg4win
 * has kept them, and Docker's pipe. Every agent is asked for its
 * identities for real; only the count is kept.
 */

/** What only Windows can tell; the real ones reuse pageant-relay's helpers. */
export interface WindowsFacts {
  /** Is there a window of class "Pageant"? */
  pageantWindow(): Promise<boolean>
  /** Who owns that window: relaykit (and what it passes requests to) or another Pageant. */
  pageantWindowOwner?(): Promise<string | undefined>
  /** This user's Pageant pipe name on this boot. */
  pageantPipeName(): Promise<string>
  /** One request to Pageant over WM_COPYDATA; the whole answer. */
  queryCopyData(request: AgentFrame, timeoutMs: number): Promise<AgentFrame>
  /** Which other accounts the folder's DACL lets write in it (security.ts otherWriters); throws when it cannot be read. */
  folderWriters(dir: string): Promise<string[]>
}

export async function hostWindowsFacts(): Promise<WindowsFacts> {
  const [{ pageantWindow, queryByCopyData }, { discoverPageantPipeName }, { currentUserSid, fileSecuritySddl, otherWriters }] = await Promise.all([
    import('../channels/pageant/wm-copydata.js'),
    import('../channels/pageant/pipe-name.js'),
    import('../win32/security.js'),
  ])
  return {
    pageantWindow: async () => !!(await pageantWindow()),
    pageantWindowOwner: async () => (await import('../channels/pageant/server.js')).pageantWindowOwner(),
    pageantPipeName: discoverPageantPipeName,
    async queryCopyData(request, timeoutMs) {
      const hwnd = await pageantWindow()
      if (!hwnd) throw new RelayError('Pageant is not running: no window of class Pageant', ExitCode.UNAVAILABLE)
      return queryByCopyData(hwnd, request, timeoutMs)
    },
    folderWriters: async (dir) => otherWriters(await fileSecuritySddl(dir), await currentUserSid()),
  }
}

export const OPENSSH_PIPE = '\\\\.\\pipe\\openssh-ssh-agent'
export const DOCKER_PIPE = '\\\\.\\pipe\\docker_engine'

const START_PAGEANT =
  'start Pageant (PuTTY), or KeeAgent / KeePassXC with Pageant support enabled; a shortcut in shell:startup starts it at every login'
const ADD_KEYS_PAGEANT = 'add a key in Pageant (right-click its tray icon, Add Key) or start it with the .ppk: pageant.exe key.ppk'

/** Every Windows row, in the order they print. */
export async function windowsChecks(facts: DoctorFacts, win: WindowsFacts, timeoutMs: number): Promise<CheckResult[]> {
  const window = await checkPageantWindow(win, timeoutMs)
  return [
    window,
    await checkPageantPipe(facts, win, timeoutMs, window.status !== 'fail'),
    await checkOpenSshPipe(facts, timeoutMs),
    ...(await checkGpgSockets(facts, timeoutMs)),
    await checkDockerPipe(facts, timeoutMs),
    await checkExecutableFolder(facts, win),
  ]
}

export async function checkPageantWindow(win: WindowsFacts, timeoutMs: number): Promise<CheckResult> {
  const name = 'Pageant window'
  let present: boolean
  try {
    present = await win.pageantWindow()
  } catch (err) {
    return { name, status: 'fail', detail: `cannot look for it: ${messageOf(err)}` }
  }
  if (!present) return { name, status: 'fail', detail: 'no window of class Pageant: Pageant is not running', fix: START_PAGEANT }
  try {
    const keys = countIdentities(await win.queryCopyData(REQUEST_IDENTITIES, timeoutMs))
    const owner = await win.pageantWindowOwner?.().catch(() => undefined)
    return agentRow(name, owner ? `WM_COPYDATA to ${owner}` : 'WM_COPYDATA', keys, ADD_KEYS_PAGEANT)
  } catch (err) {
    return {
      name,
      status: 'fail',
      detail: `the window is there but WM_COPYDATA failed: ${messageOf(err)}`,
      fix: 'Pageant may be hung or belong to another user (an elevated or other session): quit it and start it again as yourself',
    }
  }
}

export async function checkPageantPipe(facts: DoctorFacts, win: WindowsFacts, timeoutMs: number, windowFound: boolean): Promise<CheckResult> {
  const name = 'Pageant pipe'
  let pipe: string
  try {
    pipe = await win.pageantPipeName()
  } catch (err) {
    return { name, status: 'fail', detail: `cannot compute its name: ${messageOf(err)}` }
  }
  try {
    return agentRow(name, pipe, await probeAgent(() => facts.connect(pipe), timeoutMs), ADD_KEYS_PAGEANT)
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') return { name, status: 'fail', detail: `${pipe}: ${messageOf(err)}`, fix: 'quit Pageant and start it again' }
    if (windowFound) {
      return {
        name,
        status: 'warn',
        detail: `no pipe ${pipe}: this Pageant answers on WM_COPYDATA only (PuTTY before 0.75, KeeAgent, KeePassXC)`,
        fix: 'pageant-relay falls back to WM_COPYDATA by itself; npiperelay and Windows ssh.exe need the pipe: update PuTTY to 0.75 or newer',
      }
    }
    return { name, status: 'fail', detail: `no pipe ${pipe}: Pageant (0.75 or newer) is not running`, fix: START_PAGEANT }
  }
}

export async function checkOpenSshPipe(facts: DoctorFacts, timeoutMs: number): Promise<CheckResult> {
  const name = 'openssh-ssh-agent pipe'
  try {
    const keys = await probeAgent(() => facts.connect(OPENSSH_PIPE), timeoutMs)
    return agentRow(name, OPENSSH_PIPE, keys, 'add a key: ssh-add %USERPROFILE%\\.ssh\\id_ed25519 (or in 1Password / Bitwarden)')
  } catch (err) {
    if (errorCode(err) === 'ENOENT') {
      return {
        name,
        status: 'fail',
        detail: `no pipe ${OPENSSH_PIPE}: Windows' OpenSSH agent (or 1Password / Bitwarden) is not running`,
        fix:
          'in an elevated PowerShell: Get-Service ssh-agent | Set-Service -StartupType Automatic; Start-Service ssh-agent ' +
          '(or turn on the SSH agent in 1Password / Bitwarden). With Pageant instead: relaykit.exe setup pageant --to openssh serves Pageant on that pipe from each logon.',
      }
    }
    return {
      name,
      status: 'fail',
      detail: `${OPENSSH_PIPE}: ${messageOf(err)}`,
      fix: 'whatever serves this pipe does not answer as an SSH agent: restart it (Restart-Service ssh-agent), and check that only one program claims the pipe',
    }
  }
}

const GPG_RESTART = 'restart gpg-agent: gpgconf --kill gpg-agent, then gpg-connect-agent /bye'

/**
 * gpg4win's socket files, wherever they are: `S.gpg-agent` (libassuan
 * format, what `npiperelay -a` and `pageant-relay --gpg` read) and
 * `S.gpg-agent.ssh` (Cygwin format, gpg-agent's SSH agent). Gpg4win 4.0
 * moved them from %APPDATA%\gnupg to %LOCALAPPDATA%\gnupg; a file left in
 * the old place is listed too, since relays that look only there (as
 * wsl2-ssh-pageant did) read a stale port.
 */
export async function checkGpgSockets(facts: DoctorFacts, timeoutMs: number): Promise<CheckResult[]> {
  const rows: CheckResult[] = []
  const looked: string[] = []
  for (const file of ['S.gpg-agent', 'S.gpg-agent.ssh']) {
    for (const candidate of gpgSocketCandidates(file, facts.env)) {
      looked.push(candidate)
      const bytes = facts.fileKind(candidate) === 'file' ? facts.readFile(candidate) : undefined
      if (!bytes) continue
      rows.push(file === 'S.gpg-agent' ? await assuanRow(facts, candidate, bytes, timeoutMs) : await gpgSshRow(facts, candidate, bytes, timeoutMs))
    }
  }
  if (rows.length) return rows
  return [
    {
      name: 'gpg4win sockets',
      status: 'skip',
      detail: looked.length
        ? `no S.gpg-agent or S.gpg-agent.ssh in ${[...new Set(looked.map((p) => p.replace(/[\\/][^\\/]+$/, '')))].join(' or ')}: gpg-agent is not running (needed only for gpg, or its ssh support)`
        : 'neither LOCALAPPDATA nor APPDATA is set',
    },
  ]
}

async function assuanRow(facts: DoctorFacts, file: string, bytes: Buffer, timeoutMs: number): Promise<CheckResult> {
  const name = 'gpg4win S.gpg-agent'
  let port: number
  try {
    port = parseAssuanFile(bytes, file).port
  } catch (err) {
    return { name, status: 'fail', detail: messageOf(err), fix: GPG_RESTART }
  }
  try {
    ;(await within(facts.connect(file), timeoutMs)).destroy()
    return { name, status: 'ok', detail: `${file}: libassuan socket file, gpg-agent listens on port ${port}` }
  } catch (err) {
    return { name, status: 'fail', detail: failedAt(file, `libassuan socket file, but ${messageOf(err)}`), fix: GPG_RESTART }
  }
}

async function gpgSshRow(facts: DoctorFacts, file: string, bytes: Buffer, timeoutMs: number): Promise<CheckResult> {
  const name = 'gpg4win S.gpg-agent.ssh'
  try {
    parseCygwinSocketFile(bytes, file)
  } catch (err) {
    return { name, status: 'fail', detail: messageOf(err), fix: GPG_RESTART }
  }
  try {
    const keys = await probeAgent(() => facts.connect(file), timeoutMs)
    return agentRow(name, `${file} (Cygwin socket file)`, keys, 'add a key to gpg-agent: ssh-add through it, or list a keygrip in sshcontrol')
  } catch (err) {
    const fix =
      err instanceof RelayError && err.exitCode === ExitCode.UNAVAILABLE
        ? `${GPG_RESTART}; enable-ssh-support (or enable-win32-openssh-support) must be in gpg-agent.conf`
        : GPG_RESTART
    return { name, status: 'fail', detail: failedAt(file, `Cygwin socket file, but ${messageOf(err)}`), fix }
  }
}

export async function checkDockerPipe(facts: DoctorFacts, timeoutMs: number): Promise<CheckResult> {
  const name = 'Docker pipe'
  try {
    ;(await within(facts.connect(DOCKER_PIPE), timeoutMs)).destroy()
    return { name, status: 'ok', detail: `${DOCKER_PIPE} is there (relay it with npiperelay -ep -s //./pipe/docker_engine)` }
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { name, status: 'skip', detail: `no ${DOCKER_PIPE}: Docker Desktop is not running (needed only to relay Docker)` }
    return { name, status: 'warn', detail: `${DOCKER_PIPE}: ${messageOf(err)}`, fix: 'restart Docker Desktop' }
  }
}

/**
 * The folder relaykit.exe runs from: whoever may write there can replace
 * it (or its hard links, or plant a DLL that Node's own imports load from
 * beside it), and it runs as you at every login. A folder made under C:\
 * lets Authenticated Users modify it.
 */
export async function checkExecutableFolder(facts: DoctorFacts, win: WindowsFacts): Promise<CheckResult> {
  const name = 'relaykit folder'
  const dir = path.win32.dirname(facts.self)
  let writers: string[]
  try {
    writers = await win.folderWriters(dir)
  } catch (err) {
    return { name, status: 'warn', detail: `${dir}: cannot read its permissions: ${messageOf(err)}`, fix: LOCK_DOWN(dir) }
  }
  if (writers.length === 0) return { name, status: 'ok', detail: `${dir}: only you and the system may write here` }
  return {
    name,
    status: 'fail',
    detail: `${dir}: ${writers.join(', ')} may write here, and could replace ${path.win32.basename(facts.self)}, which runs as you`,
    fix: LOCK_DOWN(dir),
  }
}

const LOCK_DOWN = (dir: string) =>
  `move relaykit.exe (and its links) to a folder only you can write, such as %LOCALAPPDATA%\\Programs\\relaykit, or lock this one down: ` +
  `icacls "${dir}" /inheritance:r /grant:r "%USERNAME%:(OI)(CI)F" SYSTEM:(OI)(CI)F Administrators:(OI)(CI)F`
