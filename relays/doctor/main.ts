import { type CliSpec, flagValueError, parseCli, parseSeconds } from '../../shared/cli.js'
import { ExitCode } from '../../shared/exit-codes.js'
import type { RelayDefinition, RelayIo } from '../../shared/relay.js'
import { VERSION } from '../../shared/version.js'
import { type CheckResult, anyUsableAgent } from '../../shared/doctor/check.js'
import { type DoctorFacts, hostFacts } from '../../shared/doctor/facts.js'
import { type DoctorReport, renderJson, renderTable } from '../../shared/doctor/report.js'
import { checkSshAuthSock } from '../../shared/doctor/ssh-auth-sock.js'
import { type WindowsFacts, hostWindowsFacts, windowsChecks } from '../../shared/doctor/windows.js'
import { checkInterop, checkListener, checkWindowsExe, isWsl } from '../../shared/doctor/wsl.js'

export const cli: CliSpec = {
  name: 'doctor',
  synopsis: '[flags]',
  description: [
    'Checks every way this machine could reach an SSH agent and says what works and',
    'what to fix. Windows: Pageant (window and pipe), the openssh-ssh-agent pipe,',
    "gpg4win's sockets, Docker's pipe, who may write where relaykit.exe is. WSL:",
    'interop, where relaykit.exe lives, a listener, SSH_AUTH_SOCK. Linux/macOS:',
    'SSH_AUTH_SOCK. Each agent is asked for its identities (key counts only are',
    'shown). The report goes to stdout.',
    'Exit 0 when at least one agent answered, 3 when none did.',
  ].join('\n'),
  flags: [
    { name: 'json', type: 'boolean', help: 'print the report as JSON (for scripts) instead of a table' },
    { name: 'timeout', type: 'string', value: 'SECONDS', help: 'how long each agent may take to answer (default 3)' },
    { name: 'exe', type: 'string', value: 'PATH', help: 'WSL: the relaykit .exe to check (default: relaykit.exe, npiperelay.exe or pageant-relay.exe on PATH)' },
  ],
  positionals: 0,
}

/** What the checks read; tests pass a made-up machine. */
export interface DoctorDeps {
  facts?: DoctorFacts
  windows?: () => Promise<WindowsFacts>
}

export interface CheckOptions {
  timeoutMs: number
  /** WSL: the .exe named by --exe. */
  exe?: string
  windows?: () => Promise<WindowsFacts>
}

/** Run the checks that apply to the machine `facts` describes. */
export async function runChecks(facts: DoctorFacts, options: CheckOptions): Promise<{ wsl: boolean; checks: CheckResult[] }> {
  const { timeoutMs } = options
  if (facts.platform === 'win32') {
    const win = await (options.windows ?? hostWindowsFacts)()
    return { wsl: false, checks: [...(await windowsChecks(facts, win, timeoutMs)), await checkSshAuthSock(facts, 'windows', timeoutMs)] }
  }
  if (isWsl(facts)) {
    const interop = checkInterop(facts)
    return {
      wsl: true,
      checks: [
        interop,
        await checkWindowsExe(facts, options.exe, interop.status === 'ok'),
        checkListener(facts),
        await checkSshAuthSock(facts, 'wsl', timeoutMs),
      ],
    }
  }
  return { wsl: false, checks: [await checkSshAuthSock(facts, 'unix', timeoutMs)] }
}

/** `relaykit doctor [--json] [--timeout S] [--exe PATH]` */
export async function main(argv: readonly string[], io: RelayIo, deps: DoctorDeps = {}): Promise<number> {
  const parsed = parseCli(cli, argv, io)
  if (!parsed.ok) return parsed.code
  let seconds: number
  try {
    seconds = parseSeconds(parsed.flags.timeout ?? '3', 'timeout')
  } catch (err) {
    return flagValueError(cli, io, err)
  }
  const facts = deps.facts ?? hostFacts(io.env)
  const options: CheckOptions = { timeoutMs: seconds * 1000 }
  if (typeof parsed.flags.exe === 'string') options.exe = parsed.flags.exe
  if (deps.windows) options.windows = deps.windows
  const { wsl, checks } = await runChecks(facts, options)
  const usableAgent = anyUsableAgent(checks)
  const report: DoctorReport = {
    version: VERSION,
    platform: facts.platform,
    wsl,
    checks,
    usableAgent,
    exitCode: usableAgent ? ExitCode.OK : ExitCode.UNAVAILABLE,
  }
  const text = parsed.flags.json === true ? renderJson(report) : renderTable(report)
  // Resolve only once it is written: the standalone runner exits right after.
  await new Promise<void>((resolve) => io.stdout.write(text, () => resolve()))
  return report.exitCode
}

export const doctor: RelayDefinition = {
  name: cli.name,
  summary: 'not a relay: checks which agents this machine can reach and says what to fix (--json for scripts)',
  linked: false,
  main: (argv, io) => main(argv, io),
}
