/**
 * doctor's Windows rows for real: the built relaykit-win-x64.exe under Wine,
 * with PuTTY 0.78's Pageant running or not, a stand-in for Windows' OpenSSH
 * agent on //./pipe/openssh-ssh-agent or not, and gpg4win socket files in
 * both of their places.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { CheckResult } from '../../../shared/doctor/check.js'
import type { DoctorReport } from '../../../shared/doctor/report.js'
import { formatCygwinSocketFile } from '../../../shared/channels/cygwin/format.js'
import { builtExecutable } from '../../../lab/built.js'
import { freePort, waitFor } from '../../fixtures/openssh.js'
import {
  type LabEnv,
  agentKeyCount,
  ensureWineServer,
  holdPageantAbsent,
  requireLab,
  runWine,
  spawnWine,
  startPageant,
  winPath,
} from '../../../lab/winlab.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const PAGEANT_WAIT = { timeoutMs: 600_000 }
const OPENSSH_PIPE = '\\\\.\\pipe\\openssh-ssh-agent'

/** `relaykit-win-x64.exe doctor --json` (stdio through files: koffi gets loaded). */
async function doctor(t: Test, lab: LabEnv, env: NodeJS.ProcessEnv = {}) {
  const r = await runWine(lab, builtExecutable('win-x64'), ['doctor', '--json'], { t, env, timeoutMs: 120_000 })
  let report: DoctorReport | undefined
  try {
    report = JSON.parse(r.stdout) as DoctorReport
  } catch {
    t.fail(`doctor printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`)
  }
  const row = (name: string): CheckResult | undefined => report?.checks.find((c) => c.name === name)
  return { code: r.code, stderr: r.stderr, report, row }
}

/** The stand-in agent on `pipe`, answering with `keys` identities. */
async function agentPipe(t: Test, lab: LabEnv, pipe: string, keys: number): Promise<void> {
  const child = spawnWine(lab, lab.nodeExe, [winPath(path.join(here, 'fixtures', 'agent-pipe.cjs'))], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PIPE: pipe, KEYS: String(keys) },
    t,
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  await waitFor(() => out.includes('ready'), 'agent pipe', 30_000)
  t.teardown(() => {
    child.kill('SIGKILL')
  })
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  t.test('Pageant running: window and pipe ok with its key count, exit 0', async (t) => {
    const pageant = await startPageant(lab, [path.join(lab.keysDir, 'id_ed25519.ppk')], { t, ...PAGEANT_WAIT })
    t.teardown(() => pageant.stop())
    const keys = await agentKeyCount(lab, pageant.pipeName)
    const { code, report, row, stderr } = await doctor(t, lab)
    t.equal(code, 0, stderr)
    t.equal(report?.platform, 'win32')
    t.equal(report?.usableAgent, true)
    t.match(row('Pageant window'), { status: 'ok', usableAgent: true, detail: new RegExp(`^WM_COPYDATA to pageant\\.exe \\(pid \\d+\\): a Pageant that is not relaykit: the agent answers, ${keys} key$`) })
    t.match(row('Pageant pipe'), { status: 'ok', usableAgent: true, detail: `${pageant.pipeName}: the agent answers, ${keys} key` })
    t.match(row('openssh-ssh-agent pipe'), { status: 'fail', detail: /no pipe \\\\\.\\pipe\\openssh-ssh-agent/, fix: /Start-Service ssh-agent/ })
    t.match(row('Docker pipe'), { status: 'skip' })
    const pub = fs.readFileSync(path.join(lab.keysDir, 'id_ed25519.pub'), 'utf8').split(' ')
    t.notMatch(JSON.stringify(report), pub[1] as string, 'no key material')
  })

  t.test('Pageant down and nothing else: fail rows with fixes, exit 3', async (t) => {
    await holdPageantAbsent(lab, { t, ...PAGEANT_WAIT })
    const { code, report, row } = await doctor(t, lab)
    t.equal(code, 3)
    t.equal(report?.usableAgent, false)
    t.equal(report?.exitCode, 3)
    t.match(row('Pageant window'), { status: 'fail', detail: /no window of class Pageant/, fix: /start Pageant/ })
    t.match(row('Pageant pipe'), { status: 'fail', detail: /no pipe \\\\\.\\pipe\\pageant\.\S+\.[0-9a-f]{64}: Pageant/, fix: /start Pageant/ })
    t.match(row('openssh-ssh-agent pipe'), { status: 'fail', fix: /Start-Service ssh-agent/ })
    t.match(row('SSH_AUTH_SOCK'), { status: 'skip' })
    t.notOk(report?.checks.some((c) => c.usableAgent), 'no row claims an agent')
  })

  t.test('an agent on //./pipe/openssh-ssh-agent, Pageant down: that row ok with its count, exit 0', async (t) => {
    await holdPageantAbsent(lab, { t, ...PAGEANT_WAIT })
    await agentPipe(t, lab, OPENSSH_PIPE, 3)
    const { code, row } = await doctor(t, lab)
    t.equal(code, 0)
    t.match(row('openssh-ssh-agent pipe'), { status: 'ok', usableAgent: true, detail: /3 keys$/ })
    t.match(row('Pageant window'), { status: 'fail' })
  })

  t.test("gpg4win's socket files in both places, each format recognised", async (t) => {
    // Wine sets LOCALAPPDATA and APPDATA itself, to the prefix's profile.
    const profile = path.join(lab.prefix, 'drive_c', 'users', os.userInfo().username, 'AppData')
    const local = path.join(profile, 'Local', 'gnupg')
    const roaming = path.join(profile, 'Roaming', 'gnupg')
    for (const dir of [local, roaming]) {
      t.notOk(fs.existsSync(dir), `${dir} is not in use already`)
      fs.mkdirSync(dir, { recursive: true })
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    }
    // S.gpg-agent: libassuan format, a listener that checks the nonce.
    const nonce = randomBytes(16)
    const received: Buffer[] = []
    const srv = net.createServer((c) => c.on('data', (d: Buffer) => received.push(d)).on('error', () => {}))
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    t.teardown(() => srv.close())
    const port = (srv.address() as net.AddressInfo).port
    fs.writeFileSync(path.join(local, 'S.gpg-agent'), Buffer.concat([Buffer.from(`${port}\n`), nonce]))
    // S.gpg-agent.ssh: Cygwin format, nobody on its port.
    fs.writeFileSync(path.join(local, 'S.gpg-agent.ssh'), formatCygwinSocketFile(await freePort(), randomBytes(16)))
    // An old-place S.gpg-agent in the wrong format.
    fs.writeFileSync(path.join(roaming, 'S.gpg-agent'), formatCygwinSocketFile(await freePort(), randomBytes(16)))

    await holdPageantAbsent(lab, { t, ...PAGEANT_WAIT })
    const { code, report } = await doctor(t, lab)
    t.equal(code, 3, 'gpg-agent\'s S.gpg-agent is no SSH agent: still exit 3')
    const gpg = report?.checks.filter((c) => c.name.startsWith('gpg4win')) ?? []
    t.equal(gpg.length, 3, 'one row per file found')
    t.match(gpg[0], { name: 'gpg4win S.gpg-agent', status: 'ok', detail: new RegExp(`Local\\\\gnupg\\\\S\\.gpg-agent: libassuan socket file, gpg-agent listens on port ${port}`) })
    t.match(gpg[1], { name: 'gpg4win S.gpg-agent', status: 'fail', detail: /Roaming\\gnupg\\S\.gpg-agent is a Cygwin\/MSYS2 socket file, not a libassuan one/, fix: /gpgconf --kill gpg-agent/ })
    t.match(gpg[2], { name: 'gpg4win S.gpg-agent.ssh', status: 'fail', detail: /Cygwin socket file/, fix: /enable-ssh-support/ })
    await waitFor(() => Buffer.concat(received).length >= 16, 'the nonce', 5000)
    t.same(Buffer.concat(received).subarray(0, 16), nonce, 'doctor proved it could read the file: it sent the nonce')
  })

  t.test("the folder relaykit.exe runs from: fail when others may write there, ok when only read or nothing", async (t) => {
    // Wine derives a folder's DACL from its Unix mode: 0777 grants Everyone
    // write, 0755 read and execute, 0700 nothing to anyone but the user.
    const expected: Array<[number, RegExp | string, string]> = [
      [0o777, /may write here/, 'fail'],
      [0o755, 'only you and the system may write here', 'ok'],
      [0o700, 'only you and the system may write here', 'ok'],
    ]
    for (const [mode, detail, status] of expected) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-doctor-dir-'))
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
      const exe = path.join(dir, 'relaykit.exe')
      fs.copyFileSync(builtExecutable('win-x64'), exe)
      fs.chmodSync(dir, mode)
      const r = await runWine(lab, exe, ['doctor', '--json'], { t, timeoutMs: 120_000 })
      const row = (JSON.parse(r.stdout) as DoctorReport).checks.find((c) => c.name === 'relaykit folder')
      t.match(row, { status, detail: typeof detail === 'string' ? `${winPath(dir)}: ${detail}` : detail }, `a ${mode.toString(8)} folder: ${JSON.stringify(row)}`)
      if (status === 'fail') t.match(row, { detail: /Everyone may write here, and could replace relaykit\.exe/, fix: /%LOCALAPPDATA%\\Programs\\relaykit.*icacls/ })
    }
  })
}
