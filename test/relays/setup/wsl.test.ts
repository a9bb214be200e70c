/**
 * `relaykit setup wsl`, the built executable in a temporary HOME, with real
 * peers: systemd's own verifier and socket activator, ssh-agent and ssh-add,
 * bash, zsh and fish. Linux stands in for WSL: "relaykit.exe" is a script
 * that runs the Linux relaykit, and `--to pipe` names the agent's Unix
 * socket, so the command setup writes runs here end to end.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { isolatedLinuxExecutable } from '../../../lab/built.js'
import { needs } from '../../../lab/prerequisites.js'
import { AGENT_TOOLS, spawnDaemon, sshAdd, startAgent, waitFor } from '../../fixtures/openssh.js'
import { processesWithArgument } from '../../fixtures/proc.js'

interface Lab {
  exe: string
  home: string
  win: string
  fakeExe: string
  agent: Awaited<ReturnType<typeof startAgent>>
}

async function lab(t: Test): Promise<Lab> {
  const exe = isolatedLinuxExecutable(t)
  const dir = path.dirname(exe)
  fs.chmodSync(dir, 0o755) // the read-only HOME case runs setup as another user
  const home = path.join(dir, 'home')
  fs.mkdirSync(home, { mode: 0o755 })
  fs.writeFileSync(path.join(home, '.bashrc'), '# the user\'s own\nalias ll="ls -l"') // no final newline: must come back so
  const fakeExe = path.join(dir, 'relaykit.exe')
  fs.writeFileSync(fakeExe, `#!/bin/sh\nexec ${exe} "$@"\n`, { mode: 0o755 })
  const agent = await startAgent(t, dir)
  return { exe, home, win: path.join(dir, 'win'), fakeExe, agent }
}

/** `relaykit setup …` as the user runs it, with this HOME and nothing else of ours in the environment. */
function setup(l: Lab, args: string[], env: NodeJS.ProcessEnv = {}, asUser?: number) {
  const prefix = asUser === undefined ? [] : ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups']
  const r = spawnSync('/usr/bin/env', ['-i', `PATH=${process.env.PATH}`, `HOME=${l.home}`, 'SHELL=/bin/bash', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...prefix, l.exe, 'setup', ...args], { encoding: 'utf8' })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function wslArgs(l: Lab, more: string[]): string[] {
  return ['wsl', '--to', 'pipe', l.agent.socket, '--exe', l.fakeExe, '--windows-dir', l.win, ...more]
}

/** Every path under `root` with its type, mode and content hash (or link target). */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name)
      const st = fs.lstatSync(p)
      const key = path.relative(root, p)
      const mode = (st.mode & 0o777).toString(8)
      if (st.isSymbolicLink()) out[key] = `link -> ${fs.readlinkSync(p)}`
      else if (st.isDirectory()) {
        out[key] = `dir ${mode}`
        walk(p)
      } else out[key] = `file ${mode} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')} ${st.mtimeMs}`
    }
  }
  if (fs.existsSync(root)) walk(root)
  return out
}

const unitDir = (l: Lab) => path.join(l.home, '.config', 'systemd', 'user')

t.test('systemd: the units pass systemd-analyze verify; socket activation through their own ExecStart serves ssh-add -l', needs(t, [...AGENT_TOOLS, 'systemd-analyze', 'systemd-socket-activate']), async (t) => {
  const l = await lab(t)
  const r = setup(l, wslArgs(l, ['--start', 'systemd']))
  t.equal(r.code, 0, r.stderr)
  const socketUnit = path.join(unitDir(l), 'relaykit-ssh.socket')
  const serviceUnit = path.join(unitDir(l), 'relaykit-ssh.service')
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', socketUnit, serviceUnit], { encoding: 'utf8' })
  t.equal(verify.status, 0, `systemd-analyze verify: ${verify.stderr}`)
  t.notMatch(verify.stderr, /relaykit-ssh/, 'and nothing to say about our units')
  t.equal(fs.readlinkSync(path.join(unitDir(l), 'sockets.target.wants', 'relaykit-ssh.socket')), socketUnit, 'enabled as systemctl --user enable would')

  const listen = /^ListenStream=(.*)$/m.exec(fs.readFileSync(socketUnit, 'utf8'))?.[1] as string
  t.equal(listen, path.join(l.home, '.ssh', 'agent.sock'))
  const execStart = (/^ExecStart=(.*)$/m.exec(fs.readFileSync(serviceUnit, 'utf8'))?.[1] as string).split(' ')
  t.same(execStart.slice(0, 3), [l.exe, 'relay-listen', listen])
  t.same(execStart.slice(3), ['--mux', '--', path.join(l.win, 'relaykit.exe'), 'mux', 'npiperelay', '-ei', '-s', l.agent.socket])
  t.ok(fs.statSync(path.join(l.win, 'relaykit.exe')).isFile(), 'relaykit.exe copied off the Linux file system')
  fs.mkdirSync(path.dirname(listen), { mode: 0o700 }) // DirectoryMode= makes it under systemd; systemd-socket-activate does not
  spawnDaemon(t, 'systemd-socket-activate', ['-l', listen, ...execStart])
  await waitFor(() => fs.existsSync(listen), 'systemd-socket-activate to bind')
  t.match((await sshAdd(listen, ['-l'])).stdout, l.agent.fingerprint, 'the first connection reaches the agent')
  t.match((await sshAdd(listen, ['-l'])).stdout, l.agent.fingerprint, 'and the next one')
})

for (const start of ['systemd', 'shell'] as const) {
  t.test(`${start}: --dry-run changes nothing; a second run changes nothing; --remove gives the HOME back exactly`, needs(t, AGENT_TOOLS), async (t) => {
    const l = await lab(t)
    const args = wslArgs(l, ['--start', start, '--shell', 'bash,zsh,fish'])
    const before = tree(l.home)

    const dry = setup(l, [...args, '--dry-run'])
    t.equal(dry.code, 0, dry.stderr)
    t.match(dry.stdout, `would add a block to ${path.join(l.home, '.bashrc')}`)
    t.match(dry.stdout, `would create ${path.join(l.win, 'relaykit.exe')}`)
    if (start === 'systemd') t.match(dry.stdout, /would create .*relaykit-ssh\.service:\n {4}\[Unit\]/, 'unit text shown in full')
    t.same(tree(l.home), before, 'the dry run wrote nothing')
    t.notOk(fs.existsSync(l.win))

    const first = setup(l, args)
    t.equal(first.code, 0, first.stderr)
    t.match(first.stdout, `added a block to ${path.join(l.home, '.bashrc')}`)
    const made = tree(l.home)
    t.not(made['.bashrc'], before['.bashrc'])
    t.ok(made[path.join('.config', 'fish', 'config.fish')])
    t.ok(made['.zshrc'])
    t.equal(fs.readFileSync(path.join(l.home, '.bashrc'), 'utf8').startsWith('# the user\'s own\nalias ll="ls -l"\n'), true, 'appended after the user\'s lines')

    const second = setup(l, args)
    t.equal(second.code, 0, second.stderr)
    t.notMatch(second.stdout, /^(created|updated|added|replaced|removed|linked)/m, 'nothing made the second time')
    t.match(second.stdout, /^unchanged /m)
    t.same(tree(l.home), made, 'not a byte or an mtime changed')

    const removed = setup(l, ['wsl', '--remove'])
    t.equal(removed.code, 0, removed.stderr)
    t.match(removed.stdout, `took the block out of ${path.join(l.home, '.bashrc')}`)
    const after = tree(l.home)
    delete after['.bashrc'] // its mtime changes; its content and mode must not
    const { ['.bashrc']: bashrc, ...rest } = before
    t.same(after, rest, 'every file and directory setup made is gone')
    t.equal(fs.readFileSync(path.join(l.home, '.bashrc'), 'utf8'), '# the user\'s own\nalias ll="ls -l"', '.bashrc byte for byte')
    t.ok(bashrc)
    t.notOk(fs.existsSync(l.win), 'the copied .exe and its folder too')
    t.equal(setup(l, ['wsl', '--remove']).stdout, '', 'a second --remove has nothing to do')
  })
}

t.test('systemd, then shell: the units and the folders made for them go; the block changes; --remove still restores', needs(t, AGENT_TOOLS), async (t) => {
  const l = await lab(t)
  const before = tree(l.home)
  t.equal(setup(l, wslArgs(l, ['--start', 'systemd', '--shell', 'bash'])).code, 0)
  t.ok(fs.existsSync(path.join(unitDir(l), 'relaykit-ssh.socket')))
  const r = setup(l, wslArgs(l, ['--start', 'shell', '--shell', 'bash']))
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, `removed ${path.join(unitDir(l), 'relaykit-ssh.service')}`)
  t.match(r.stdout, `replaced the block in ${path.join(l.home, '.bashrc')}`)
  t.notOk(fs.existsSync(path.join(l.home, '.config')), 'the folders setup made for the units, now empty, are gone')
  t.match(fs.readFileSync(path.join(l.home, '.bashrc'), 'utf8'), 'relay-listen --background')
  t.equal(setup(l, ['wsl', '--remove']).code, 0)
  const after = tree(l.home)
  t.same(Object.keys(after), Object.keys(before))
  t.equal(fs.readFileSync(path.join(l.home, '.bashrc'), 'utf8'), '# the user\'s own\nalias ll="ls -l"')
})

t.test("awkward paths (space, quote, %, $) survive bash, zsh, fish and systemd's quoting", needs(t, [...AGENT_TOOLS, 'bash', 'zsh', 'fish', 'systemd-analyze']), async (t) => {
  const l = await lab(t)
  const odd = path.join(path.dirname(l.home), "it's 100% $HOME")
  fs.mkdirSync(odd)
  const sock = path.join(odd, 'a b.sock')
  // The unit's ExecStart names this executable: started from an odd path, it must be quoted right for systemd
  // (which takes spaces and %, and refuses quotes and $ in an executable's path however quoted).
  fs.mkdirSync(path.join(path.dirname(l.home), '100% sure'))
  const oddExe = path.join(path.dirname(l.home), '100% sure', 'relay kit')
  fs.linkSync(l.exe, oddExe)
  t.equal(setup({ ...l, exe: oddExe }, wslArgs(l, ['--start', 'systemd', '--shell', 'bash,zsh,fish', '--socket', sock])).code, 0)
  const env = { PATH: process.env.PATH ?? '', HOME: l.home }
  for (const [shell, file] of [['bash', '.bashrc'], ['zsh', '.zshrc'], ['fish', '.config/fish/config.fish']] as const) {
    const r = spawnSync(shell, ['-c', `source ~/${file}; printf %s "$SSH_AUTH_SOCK"`], { env, encoding: 'utf8' })
    t.equal(r.stdout, sock, `${shell} reads SSH_AUTH_SOCK back exactly`)
  }
  const unit = path.join(unitDir(l), 'relaykit-ssh.service')
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', path.join(unitDir(l), 'relaykit-ssh.socket'), unit], { encoding: 'utf8' })
  t.equal(verify.status, 0, verify.stderr)
  t.notMatch(verify.stderr, /relaykit-ssh/, 'systemd finds the executable at its odd path')

  const refusedExe = path.join(odd, 'relaykit')
  fs.linkSync(l.exe, refusedExe)
  const before = tree(l.home)
  const refused = setup({ ...l, exe: refusedExe }, wslArgs(l, ['--start', 'systemd', '--shell', 'bash']))
  t.equal(refused.code, 2)
  t.match(refused.stderr, `systemd cannot start ${refusedExe}: its path has a quote, backslash or $ in it`)
  t.same(tree(l.home), before, 'nothing written for a unit systemd would refuse')
})

t.test('--to gpg is a profile of its own: its socket and command, no SSH_AUTH_SOCK; removing one profile leaves the other', needs(t, AGENT_TOOLS), async (t) => {
  const l = await lab(t)
  const before = tree(l.home)
  t.equal(setup(l, wslArgs(l, ['--start', 'shell', '--shell', 'bash'])).code, 0)
  const gpg = setup(l, ['wsl', '--to', 'gpg', '--exe', l.fakeExe, '--windows-dir', l.win, '--start', 'systemd', '--shell', 'bash'])
  t.equal(gpg.code, 0, gpg.stderr)
  t.notMatch(gpg.stdout, /block/, 'no shell block: gpg finds its socket itself')
  const service = fs.readFileSync(path.join(unitDir(l), 'relaykit-gpg.service'), 'utf8')
  t.match(service, `relay-listen ${path.join(l.home, '.gnupg', 'S.gpg-agent')} -- ${path.join(l.win, 'relaykit.exe')} pageant-relay --gpg S.gpg-agent`)
  t.match(gpg.stdout, `unchanged ${path.join(l.win, 'relaykit.exe')}`, 'the .exe copy is shared, not made twice')
  t.equal(setup(l, ['wsl', '--remove']).code, 0)
  t.notMatch(fs.readFileSync(path.join(l.home, '.bashrc'), 'utf8'), 'relaykit setup')
  t.ok(fs.existsSync(path.join(unitDir(l), 'relaykit-gpg.service')), 'the gpg profile stays')
  t.ok(fs.existsSync(path.join(l.win, 'relaykit.exe')), 'and the .exe it uses')
  t.equal(setup(l, ['wsl', '--to', 'gpg', '--remove']).code, 0)
  t.same(Object.keys(tree(l.home)), Object.keys(before))
  t.notOk(fs.existsSync(l.win))
})

t.test('an .exe on the Linux file system and no interop to find %LOCALAPPDATA%: say so, change nothing', needs(t, AGENT_TOOLS), async (t) => {
  const l = await lab(t)
  const before = tree(l.home)
  const r = setup(l, ['wsl', '--to', 'pageant', '--exe', l.fakeExe])
  t.equal(r.code, 2)
  t.match(r.stderr, `${l.fakeExe} is on the Linux file system, where each start takes seconds`)
  t.match(r.stderr, '--windows-dir')
  t.same(tree(l.home), before)
})

const SHELL_RUN: Record<'bash' | 'zsh' | 'fish', { interactive: string[]; scripted: string[] }> = {
  bash: { interactive: ['bash', '-ic', 'true'], scripted: ['bash', '-c', '. ~/.bashrc'] },
  zsh: { interactive: ['zsh', '-ic', 'true'], scripted: ['zsh', '-c', '. ~/.zshrc'] },
  fish: { interactive: ['fish', '-i', '-c', 'true'], scripted: ['fish', '-c', 'true'] }, // fish reads config.fish in every shell
}

for (const shell of ['bash', 'zsh', 'fish'] as const) {
  t.test(`${shell}: the block starts one listener however many interactive shells start; none from scripts or VS Code`, needs(t, [...AGENT_TOOLS, shell, 'python3']), async (t) => {
    const l = await lab(t)
    t.equal(setup(l, wslArgs(l, ['--start', 'shell', '--shell', shell])).code, 0)
    const sock = path.join(l.home, '.ssh', 'agent.sock')
    const listeners = () => processesWithArgument(sock).filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('relay-listen'))
    t.teardown(() => listeners().forEach((pid) => process.kill(pid, 'SIGTERM')))
    const env = { PATH: process.env.PATH ?? '', HOME: l.home }
    const runShell = (argv: string[], extra: NodeJS.ProcessEnv = {}) =>
      new Promise<number | null>((resolve) => {
        const [cmd, ...args] = argv as [string, ...string[]]
        spawnDaemon(t, cmd, args, { stdio: 'ignore', env: { ...env, ...extra } }).once('exit', resolve)
      })

    t.equal(await runShell(SHELL_RUN[shell].scripted), 0)
    t.equal(await runShell(SHELL_RUN[shell].interactive, { VSCODE_RESOLVING_ENVIRONMENT: '1' }), 0)
    t.same(listeners(), [], 'a non-interactive shell and VS Code resolving its environment start nothing')
    t.notOk(fs.existsSync(sock))

    // A stale socket, as an unclean WSL shutdown leaves it; then a terminal restoring four tabs at once.
    fs.mkdirSync(path.dirname(sock), { mode: 0o700 })
    spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(sock)})`])
    t.ok(fs.lstatSync(sock).isSocket())
    const codes = await Promise.all([1, 2, 3, 4].map(() => runShell(SHELL_RUN[shell].interactive)))
    t.same(codes, [0, 0, 0, 0], 'four interactive shells at once, each started promptly')
    await runShell(SHELL_RUN[shell].interactive)
    // A listener that lost the race exits on its own a moment later; one that stays is a second listener.
    await waitFor(() => listeners().length <= 1, 'the listeners that found the socket served to exit', 5000).catch(() => {})
    t.equal(listeners().length, 1, 'one listener serves them all')
    const viaShell = spawnSync(shell, ['-c', shell === 'fish' ? 'ssh-add -l' : '. ~/.' + shell + 'rc; ssh-add -l'], { env, encoding: 'utf8' })
    t.match(viaShell.stdout, l.agent.fingerprint, 'SSH_AUTH_SOCK from the block reaches the agent')
  })
}

t.test('bad input: clear error naming the file, nothing half-written', needs(t, AGENT_TOOLS), async (t) => {
  t.test('a foreign block with our marker in .bashrc', async (t) => {
    const l = await lab(t)
    fs.appendFileSync(path.join(l.home, '.bashrc'), '\n# >>> relaykit setup: ssh >>>\nexport SSH_AUTH_SOCK=/elsewhere\n# <<< relaykit setup: ssh <<<\n')
    const before = tree(l.home)
    const r = setup(l, wslArgs(l, ['--start', 'systemd', '--shell', 'bash,fish']))
    t.equal(r.code, 1)
    t.match(r.stderr, `${path.join(l.home, '.bashrc')} already has a block marked "# >>> relaykit setup: ssh >>>"`)
    t.same(tree(l.home), before, 'no unit, no fish block, no manifest')
    t.notOk(fs.existsSync(l.win))
  })
  t.test('a unit of the same name that is not ours', async (t) => {
    const l = await lab(t)
    fs.mkdirSync(unitDir(l), { recursive: true })
    fs.writeFileSync(path.join(unitDir(l), 'relaykit-ssh.service'), '[Service]\nExecStart=/bin/true\n')
    const before = tree(l.home)
    const r = setup(l, wslArgs(l, ['--start', 'systemd', '--shell', 'bash']))
    t.equal(r.code, 1)
    t.match(r.stderr, `${path.join(unitDir(l), 'relaykit-ssh.service')} exists and relaykit setup did not write it`)
    t.same(tree(l.home), before)
    t.notOk(fs.existsSync(l.win))
  })
  t.test('a block of ours edited since: --remove leaves everything', async (t) => {
    const l = await lab(t)
    t.equal(setup(l, wslArgs(l, ['--start', 'shell', '--shell', 'bash,zsh'])).code, 0)
    const bashrc = path.join(l.home, '.bashrc')
    fs.writeFileSync(bashrc, fs.readFileSync(bashrc, 'utf8').replace('export SSH_AUTH_SOCK=', 'export SSH_AUTH_SOCK=/mine #'))
    const before = tree(l.home)
    const r = setup(l, ['wsl', '--remove'])
    t.equal(r.code, 1)
    t.match(r.stderr, `${bashrc}: the relaykit block was edited since`)
    t.same(tree(l.home), before, '.zshrc and the manifest stay too')
  })
  t.test('a read-only HOME', async (t) => {
    const l = await lab(t)
    // root writes anywhere: run setup as nobody, for whom a root-owned HOME is read-only.
    const asUser = process.getuid?.() === 0 ? 65534 : undefined
    if (asUser === undefined) fs.chmodSync(l.home, 0o555)
    t.teardown(() => fs.chmodSync(l.home, 0o755))
    fs.chmodSync(path.join(l.home, '.bashrc'), 0o666) // writable itself: the failure comes later, and must be undone
    fs.mkdirSync(l.win)
    fs.chmodSync(l.win, 0o777)
    const before = tree(l.home)
    const winBefore = tree(l.win)
    const r = setup(l, wslArgs(l, ['--start', 'shell', '--shell', 'bash,zsh']), {}, asUser)
    t.equal(r.code, 1, r.stdout)
    t.match(r.stderr, new RegExp(`cannot (write|create) ${l.home}/\\.(zshrc|local)\\S*: (EACCES: )?permission denied; nothing was changed`))
    t.same(tree(l.home), { ...before, '.bashrc': tree(l.home)['.bashrc'] as string }, 'no new file')
    t.equal(fs.readFileSync(path.join(l.home, '.bashrc'), 'utf8'), '# the user\'s own\nalias ll="ls -l"', '.bashrc written, then put back')
    t.same(tree(l.win), winBefore, 'the copied .exe removed again')
  })
})
