import path from 'node:path'
import type { CheckResult } from './check.js'
import type { DoctorFacts } from './facts.js'

/**
 * The WSL side of a Windows agent: a Linux ssh reaches Pageant or the
 * Windows OpenSSH agent only through a Windows .exe started by WSL's
 * interop, behind a Unix-socket listener. Each link of that chain is one
 * check here; the two users trip over most are interop switched off
 * (systemd's binfmt override, WSL#8843) and the .exe living on the Linux
 * file system, where every start costs seconds (15–30 s per ssh or git
 * operation in npiperelay#26).
 */

const INTEROP_FILES = ['/proc/sys/fs/binfmt_misc/WSLInterop', '/proc/sys/fs/binfmt_misc/WSLInterop-late']

/** WSL (1 or 2), by the interop registration or the kernel's name. */
export function isWsl(facts: DoctorFacts): boolean {
  if (facts.platform !== 'linux') return false
  return INTEROP_FILES.some((f) => facts.fileKind(f) !== undefined) || /microsoft/i.test(facts.readFile('/proc/version')?.toString('latin1') ?? '')
}

const INTEROP_FIX_MISSING =
  'WSL can no longer start .exe files. If systemd runs in this distribution, its binfmt setup removed the registration (WSL#8843): ' +
  "sudo sh -c 'echo :WSLInterop:M::MZ::/init:PF > /usr/lib/binfmt.d/WSLInterop.conf' && sudo systemctl restart systemd-binfmt. " +
  'Otherwise make sure /etc/wsl.conf does not say [interop] enabled=false, then run wsl --shutdown from Windows.'

/** Can WSL start Windows programs at all? */
export function checkInterop(facts: DoctorFacts): CheckResult {
  const name = 'WSL interop'
  const registered = INTEROP_FILES.find((f) => facts.fileKind(f) !== undefined)
  if (!registered) {
    return { name, status: 'fail', detail: 'no WSLInterop entry in /proc/sys/fs/binfmt_misc: Windows .exe files cannot run', fix: INTEROP_FIX_MISSING }
  }
  const state = (facts.readFile(registered)?.toString('latin1') ?? '').split('\n')[0]?.trim()
  if (state !== 'enabled') {
    return {
      name,
      status: 'fail',
      detail: `${registered} is ${state || 'unreadable'}: Windows .exe files cannot run`,
      fix: `sudo sh -c 'echo 1 > ${registered}' for now; for good, set [interop] enabled=true in /etc/wsl.conf and run wsl --shutdown from Windows`,
    }
  }
  // tmux or screen started in an earlier WSL session keep a dead WSL_INTEROP (WSL#6799).
  const interopSocket = facts.env.WSL_INTEROP
  if (interopSocket && facts.fileKind(interopSocket) !== 'socket') {
    return {
      name,
      status: 'fail',
      detail: `WSL_INTEROP=${interopSocket} no longer exists (a shell or tmux left over from an earlier WSL session)`,
      fix: 'in this shell: export WSL_INTEROP=$(ls -t /run/WSL/*_interop | head -n 1), or start a new terminal outside tmux/screen',
    }
  }
  return { name, status: 'ok', detail: `${path.basename(registered)} enabled` }
}

/** The names a relaykit Windows executable goes by on PATH. */
const EXE_NAMES = ['relaykit.exe', 'npiperelay.exe', 'pageant-relay.exe']

/** `/mnt/c/…`: drvfs, the Windows file system as WSL mounts it. */
export function onWindowsFileSystem(p: string): boolean {
  return /^\/mnt\/[a-z]\//i.test(p)
}

const MOVE_EXE =
  'relaykit setup wsl --to pageant --exe EXE copies it to %LOCALAPPDATA%\\Programs\\relaykit and uses that copy; or copy it to the Windows file system and use that path: mkdir -p /mnt/c/tools && cp EXE /mnt/c/tools/ (then /mnt/c/tools/NAME in your relay line, or C:\\tools on the Windows PATH)'

/**
 * Where the Windows executable lives, and (with interop working) that it
 * starts, and how long that takes.
 */
export async function checkWindowsExe(facts: DoctorFacts, given: string | undefined, interopOk: boolean): Promise<CheckResult> {
  const name = 'relaykit .exe'
  const found = given ? [given] : EXE_NAMES.map((n) => facts.which(n)).filter((p): p is string => p !== undefined)
  if (found.length === 0) {
    return {
      name,
      status: 'warn',
      detail: `no ${EXE_NAMES.join(', ')} on PATH: nothing here can reach a Windows agent`,
      fix: 'copy relaykit-win-x64.exe to C:\\tools\\relaykit.exe, then add C:\\tools to the Windows PATH or pass --exe /mnt/c/tools/relaykit.exe',
    }
  }
  if (given && facts.fileKind(given) !== 'file') {
    return { name, status: 'fail', detail: `${given}: no such file`, fix: 'pass the path of relaykit.exe as WSL sees it, e.g. --exe /mnt/c/tools/relaykit.exe' }
  }
  const slow = found.filter((p) => !onWindowsFileSystem(facts.realpath(p)))
  if (slow.length > 0) {
    const exe = slow[0] as string
    return {
      name,
      status: 'warn',
      detail: `${slow.join(', ')} ${slow.length === 1 ? 'is' : 'are'} on the Linux file system: each start costs seconds (15–30 s per ssh or git operation reported)`,
      fix: MOVE_EXE.replaceAll('EXE', exe).replace('NAME', path.basename(exe)),
    }
  }
  const exe = found[0] as string
  const where = found.map((p) => (facts.realpath(p) === p ? p : `${p} -> ${facts.realpath(p)}`)).join(', ')
  if (!interopOk || !/^relaykit/i.test(path.basename(exe))) {
    return { name, status: 'ok', detail: `${where} (on the Windows file system)` }
  }
  const run = await facts.run(exe, ['--version'], 30_000)
  if (run.code !== 0) {
    return {
      name,
      status: 'fail',
      detail: `${exe} --version failed (${run.error ?? `exit ${run.code}`})`,
      fix: 'run it by hand to see why; "Exec format error" means interop is broken, "cannot execute binary file" a wrong architecture (use relaykit-win-arm64.exe on ARM)',
    }
  }
  return { name, status: 'ok', detail: `${where}: ${run.stdout.trim()} starts in ${Math.round(run.ms)} ms` }
}

/** Something to put behind SSH_AUTH_SOCK: socat, or relaykit's own relay-listen. */
export function checkListener(facts: DoctorFacts): CheckResult {
  const name = 'listener'
  const have: string[] = []
  const socat = facts.which('socat')
  if (socat) have.push(`socat (${socat})`)
  const relayListen = facts.which('relay-listen')
  if (relayListen) have.push(`relay-listen (${relayListen})`)
  else if (/^relaykit/i.test(path.basename(facts.self))) have.push(`relaykit relay-listen (${facts.self})`)
  if (have.length) return { name, status: 'ok', detail: have.join(', ') }
  return {
    name,
    status: 'warn',
    detail: 'neither socat nor relay-listen is on PATH: nothing can serve SSH_AUTH_SOCK',
    fix: 'relaykit setup wsl --to pageant (or --to openssh) sets up relay-listen and SSH_AUTH_SOCK; or relaykit link ~/.local/bin (gives you relay-listen), or sudo apt install socat',
  }
}
