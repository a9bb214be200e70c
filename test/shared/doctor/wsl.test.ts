/**
 * The WSL rows, on a made-up WSL machine: the facts doctor reads are
 * injected, and the one agent behind SSH_AUTH_SOCK is a real Unix socket
 * server, so everything but "is this WSL" is exercised for real.
 */
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { AgentMessage, encodeFrame } from '../../../shared/agent/frames.js'
import type { DoctorFacts, FileKind, RunResult } from '../../../shared/doctor/facts.js'
import { hostFacts } from '../../../shared/doctor/facts.js'
import { main } from '../../../relays/doctor/main.js'
import type { DoctorReport } from '../../../shared/doctor/report.js'
import { isWsl, onWindowsFileSystem } from '../../../shared/doctor/wsl.js'
import { memoryIo } from '../../fixtures/memory-io.js'
import { shortTempDir } from '../../../lab/temp-dir.js'

interface FakeMachine {
  files?: Record<string, { kind: FileKind; text?: string }>
  path?: Record<string, string>
  links?: Record<string, string>
  env?: NodeJS.ProcessEnv
  self?: string
  run?: (file: string, args: readonly string[]) => RunResult
}

const INTEROP = '/proc/sys/fs/binfmt_misc/WSLInterop'
const WSL_KERNEL = { '/proc/version': { kind: 'file' as const, text: 'Linux version 5.15.153.1-microsoft-standard-WSL2' } }

/** A WSL machine as doctor sees it; connections go to real sockets. */
function fakeWsl(m: FakeMachine): DoctorFacts & { ran: string[] } {
  const real = hostFacts(m.env ?? {}, 'linux')
  const ran: string[] = []
  return {
    platform: 'linux',
    env: m.env ?? {},
    self: m.self ?? '/usr/bin/node',
    fileKind: (p) => m.files?.[p]?.kind ?? real.fileKind(p),
    readFile: (p) => (m.files?.[p]?.text !== undefined ? Buffer.from(m.files[p]?.text ?? '') : undefined),
    realpath: (p) => m.links?.[p] ?? p,
    which: (n) => m.path?.[n],
    connect: (p) => real.connect(p),
    run: async (file, args) => {
      ran.push([file, ...args].join(' '))
      return m.run ? m.run(file, args) : { code: 0, ms: 180, stdout: 'relaykit 0.1.0\n' }
    },
    ran,
  }
}

async function doctor(facts: DoctorFacts, args: string[] = ['--json']) {
  const m = memoryIo(facts.env)
  const code = await main(args, m.io, { facts })
  return { code, report: args.includes('--json') ? (JSON.parse(m.stdout().toString()) as DoctorReport) : undefined, text: m.stdout().toString() }
}

function row(report: DoctorReport | undefined, name: string) {
  return report?.checks.find((c) => c.name === name)
}

/** A Unix socket answering REQUEST_IDENTITIES with one (made-up) key. */
async function fakeAgent(t: Test): Promise<string> {
  const sock = path.join(shortTempDir(t), 'agent.sock')
  const one = encodeFrame(AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 0x41, 0, 0, 0, 0]))
  const srv = net.createServer((c) => c.on('data', () => c.write(one)))
  await new Promise<void>((r) => srv.listen(sock, r))
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())))
  return sock
}

const interopOn = { [INTEROP]: { kind: 'file' as const, text: 'enabled\ninterpreter /init\nflags: PF\noffset 0\nmagic 4d5a\n' } }

t.test('WSL is recognised by its interop entry or its kernel, and nothing else', async (t) => {
  t.ok(isWsl(fakeWsl({ files: interopOn })))
  t.ok(isWsl(fakeWsl({ files: WSL_KERNEL })), 'interop removed, the kernel still says microsoft')
  t.notOk(isWsl(fakeWsl({ files: { '/proc/version': { kind: 'file', text: 'Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)' } } })))
  t.ok(onWindowsFileSystem('/mnt/c/tools/relaykit.exe'))
  t.notOk(onWindowsFileSystem('/home/me/bin/relaykit.exe'))
  t.notOk(onWindowsFileSystem('/mnt/wsl/relaykit.exe'))
})

t.test('everything right: four ok rows, exit 0, the .exe started once', async (t) => {
  const sock = await fakeAgent(t)
  const facts = fakeWsl({
    files: { ...interopOn, ...WSL_KERNEL, '/mnt/c/tools/relaykit.exe': { kind: 'file' } },
    path: { 'relaykit.exe': '/mnt/c/tools/relaykit.exe', socat: '/usr/bin/socat' },
    env: { SSH_AUTH_SOCK: sock },
  })
  const { code, report } = await doctor(facts)
  t.equal(code, 0)
  t.equal(report?.wsl, true)
  t.same(report?.checks.map((c) => [c.name, c.status]), [
    ['WSL interop', 'ok'],
    ['relaykit .exe', 'ok'],
    ['listener', 'ok'],
    ['SSH_AUTH_SOCK', 'ok'],
  ])
  t.match(row(report, 'relaykit .exe')?.detail, '/mnt/c/tools/relaykit.exe: relaykit 0.1.0 starts in 180 ms')
  t.match(row(report, 'SSH_AUTH_SOCK')?.detail, '1 key')
  t.same(facts.ran, ['/mnt/c/tools/relaykit.exe --version'])
})

t.test('the .exe under /home: warn with the fix to move it; not started', async (t) => {
  const facts = fakeWsl({
    files: { ...interopOn, ...WSL_KERNEL },
    path: { 'npiperelay.exe': '/home/me/bin/npiperelay.exe' },
  })
  const { code, report } = await doctor(facts)
  t.equal(code, 3, 'no agent: exit 3')
  t.match(row(report, 'relaykit .exe'), {
    status: 'warn',
    detail: /\/home\/me\/bin\/npiperelay\.exe is on the Linux file system: each start costs seconds/,
    fix: /cp \/home\/me\/bin\/npiperelay\.exe \/mnt\/c\/tools\/.*\/mnt\/c\/tools\/npiperelay\.exe/,
  })
  t.match(row(report, 'relaykit .exe')?.fix, /^relaykit setup wsl --to pageant --exe \/home\/me\/bin\/npiperelay\.exe copies it/, 'the setup command that fixes it comes first')
  t.same(facts.ran, [])
})

t.test('a symlink on the Linux side to an .exe on /mnt/c is fine', async (t) => {
  const facts = fakeWsl({
    files: { ...interopOn, '/home/me/bin/relaykit.exe': { kind: 'file' } },
    path: { 'relaykit.exe': '/home/me/bin/relaykit.exe' },
    links: { '/home/me/bin/relaykit.exe': '/mnt/c/tools/relaykit.exe' },
  })
  const { report } = await doctor(facts)
  t.match(row(report, 'relaykit .exe'), { status: 'ok', detail: /-> \/mnt\/c\/tools\/relaykit\.exe/ })
})

t.test('--exe names the .exe; a missing one fails', async (t) => {
  const good = await doctor(fakeWsl({ files: { ...interopOn, '/mnt/d/x/relaykit.exe': { kind: 'file' } } }), ['--json', '--exe', '/mnt/d/x/relaykit.exe'])
  t.match(row(good.report, 'relaykit .exe'), { status: 'ok', detail: /\/mnt\/d\/x\/relaykit\.exe/ })
  const bad = await doctor(fakeWsl({ files: interopOn }), ['--json', '--exe', '/mnt/c/nope.exe'])
  t.match(row(bad.report, 'relaykit .exe'), { status: 'fail', detail: /no such file/ })
})

t.test('no .exe anywhere: warn and say where to put one', async (t) => {
  const { report } = await doctor(fakeWsl({ files: interopOn }))
  t.match(row(report, 'relaykit .exe'), { status: 'warn', detail: /no relaykit\.exe, npiperelay\.exe, pageant-relay\.exe on PATH/, fix: /C:\\tools\\relaykit\.exe/ })
})

t.test('interop gone (systemd binfmt): fail with the fix; the .exe is not started', async (t) => {
  const facts = fakeWsl({
    files: { ...WSL_KERNEL, '/mnt/c/tools/relaykit.exe': { kind: 'file' } },
    path: { 'relaykit.exe': '/mnt/c/tools/relaykit.exe' },
  })
  const { code, report, text } = await doctor(facts, ['--json'])
  t.equal(code, 3)
  t.match(row(report, 'WSL interop'), { status: 'fail', detail: /no WSLInterop entry/, fix: /WSLInterop\.conf.*systemd-binfmt/ })
  t.match(row(report, 'relaykit .exe'), { status: 'ok' }, 'its place is still right')
  t.same(facts.ran, [], 'not started without interop')
  t.notMatch(text, 'starts in')
  const table = await doctor(facts, [])
  t.match(table.text, /WSL interop\s+FAIL\s+no WSLInterop entry/)
  t.match(table.text, /fix: WSL can no longer start \.exe files/)
})

t.test('interop disabled, or a stale WSL_INTEROP: fail with the fix', async (t) => {
  const off = await doctor(fakeWsl({ files: { [INTEROP]: { kind: 'file', text: 'disabled\n' } } }))
  t.match(row(off.report, 'WSL interop'), { status: 'fail', detail: /is disabled/, fix: /echo 1 > .*WSLInterop.*wsl\.conf/ })
  const stale = await doctor(fakeWsl({ files: interopOn, env: { WSL_INTEROP: '/run/WSL/123_interop' } }))
  t.match(row(stale.report, 'WSL interop'), { status: 'fail', detail: /WSL_INTEROP=\/run\/WSL\/123_interop no longer exists/, fix: /export WSL_INTEROP=/ })
  const late = await doctor(fakeWsl({ files: { [`${INTEROP}-late`]: { kind: 'file', text: 'enabled\n' } } }))
  t.match(row(late.report, 'WSL interop'), { status: 'ok', detail: 'WSLInterop-late enabled' })
})

t.test('the .exe does not start: fail with what happened', async (t) => {
  const facts = fakeWsl({
    files: { ...interopOn, '/mnt/c/tools/relaykit.exe': { kind: 'file' } },
    path: { 'relaykit.exe': '/mnt/c/tools/relaykit.exe' },
    run: () => ({ code: null, ms: 30_000, stdout: '', error: 'no exit within 30000 ms' }),
  })
  const { report } = await doctor(facts)
  t.match(row(report, 'relaykit .exe'), { status: 'fail', detail: /--version failed \(no exit within 30000 ms\)/, fix: /Exec format error/ })
})

t.test('listener: socat, relay-listen, or this relaykit itself; neither warns', async (t) => {
  const none = await doctor(fakeWsl({ files: interopOn }))
  t.match(row(none.report, 'listener'), { status: 'warn', fix: /relaykit link|apt install socat/ })
  t.match(row(none.report, 'listener')?.fix, /^relaykit setup wsl --to pageant /)
  const self = await doctor(fakeWsl({ files: interopOn, self: '/usr/local/bin/relaykit-linux-x64' }))
  t.match(row(self.report, 'listener'), { status: 'ok', detail: 'relaykit relay-listen (/usr/local/bin/relaykit-linux-x64)' })
  const both = await doctor(fakeWsl({ files: interopOn, path: { socat: '/usr/bin/socat', 'relay-listen': '/home/me/.local/bin/relay-listen' } }))
  t.match(row(both.report, 'listener'), { status: 'ok', detail: 'socat (/usr/bin/socat), relay-listen (/home/me/.local/bin/relay-listen)' })
})

t.test('SSH_AUTH_SOCK unset in WSL: the fix is the relay-listen line', async (t) => {
  const { report } = await doctor(fakeWsl({ files: interopOn }))
  t.match(row(report, 'SSH_AUTH_SOCK'), { status: 'fail', fix: /relay-listen --background "\$SSH_AUTH_SOCK" --mux -- \/mnt\/c\/tools\/relaykit\.exe mux pageant-relay/ })
  t.match(row(report, 'SSH_AUTH_SOCK')?.fix, /^relaykit setup wsl --to pageant /, 'the setup command first')
})
