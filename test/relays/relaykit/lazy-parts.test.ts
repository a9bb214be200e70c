/**
 * A part evaluates only the code its command line needs: uds-relay to a
 * plain Unix socket loads no Cygwin, libassuan, AF_UNIX or Win32 code and,
 * in byte mode, none of agent mode's message relay; npiperelay on a socket
 * loads no libassuan client without -a. Every module evaluated is start-up
 * time on every connection (issue 15).
 *
 * The part's entry (lib/relays/relaykit/parts/NAME.js, the module graph
 * esbuild bundles into the part) runs in a child Node whose module hooks
 * log every file it loads; in ESM, as in the bundle, a module is evaluated
 * at start exactly when a static import reaches it, and later when a
 * dynamic import() runs. Each case also has a command line that does need
 * the code, so a hook that saw nothing could not pass.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { repoRoot } from '../../../lab/built.js'
import { shortTempDir } from '../../../lab/temp-dir.js'

const lib = path.join(repoRoot, 'lib')

/** Registers hooks that append each loaded URL to $LOADED_LOG (they run on Node's hooks thread). */
const HOOKS = `
import fs from 'node:fs'
export async function load(url, context, next) {
  fs.appendFileSync(process.env.LOADED_LOG, url + '\\n')
  return next(url, context)
}`
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)})`

/** Runs part `part` with `args` and `input` on stdin; resolves with its output and the lib/ files it loaded. */
async function runPart(dir: string, part: string, args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string; loaded: string[] }> {
  const log = path.join(dir, `loaded-${part}-${Date.now()}`)
  const entry = pathToFileURL(path.join(lib, 'relays', 'relaykit', 'parts', `${part}.js`)).href
  const script = `import(${JSON.stringify(entry)}).then((m) => m.run(${JSON.stringify(part)}, ${JSON.stringify(args)}))`
  const env: NodeJS.ProcessEnv = { ...process.env, LOADED_LOG: log }
  delete env.NODE_OPTIONS
  const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '-e', script], { env })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdin.end(input)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  const libUrl = pathToFileURL(lib).href + '/'
  const loaded = fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((u) => u.startsWith(libUrl) || u.includes('/node_modules/koffi/'))
    .map((u) => (u.startsWith(libUrl) ? u.slice(libUrl.length) : u.slice(u.indexOf('node_modules/'))))
  return { code, stdout, stderr, loaded }
}

/** A Unix socket that answers "echo:" and each chunk it reads, and hangs up at EOF. */
async function echoSocket(t: Test, file: string): Promise<void> {
  const server = net.createServer((c) => {
    c.on('data', (d: Buffer) => c.write(Buffer.concat([Buffer.from('echo:'), d])))
    c.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(file, resolve))
  t.teardown(() => server.close())
}

/** Windows and other-channel code a relay to a Unix socket must not evaluate. */
const FOREIGN_CHANNELS = [
  /^shared\/win32\//,
  /^shared\/channels\/cygwin\/(client|handshake-io|server)\.js$/,
  /^shared\/channels\/assuan\//,
  /^shared\/channels\/af-unix\/af-unix\.js$/,
  /^shared\/channels\/(owner|named-pipe\/.*)\.js$/,
  /^node_modules\/koffi\//,
]
/** Agent mode's message relay, client and emulation: not for a byte relay. */
const AGENT_MODE = [/^shared\/agent\/(client|relay|emulation|emulated-agent|constraints|confirm|askpass|lock|identities)\.js$/]

const matching = (loaded: string[], patterns: RegExp[]) => loaded.filter((f) => patterns.some((p) => p.test(f)))

t.test('uds-relay to a Unix socket evaluates no Cygwin, libassuan, AF_UNIX, Win32 or agent-mode code', async (t) => {
  const dir = shortTempDir(t)
  const sock = path.join(dir, 's')
  await echoSocket(t, sock)
  const r = await runPart(dir, 'uds-relay', [sock], 'hello')
  t.same([r.code, r.stdout], [0, 'echo:hello'], `it relayed ${r.stderr}`)
  t.ok(r.loaded.includes('shared/channels/unix/client.js'), 'the hook saw the Unix client load')
  t.same(matching(r.loaded, FOREIGN_CHANNELS), [], 'no other channel code')
  t.same(matching(r.loaded, AGENT_MODE), [], 'no agent-mode code in byte mode')
})

t.test('what is left out loads when a command line needs it', async (t) => {
  const dir = shortTempDir(t)
  const sock = path.join(dir, 's')
  await echoSocket(t, sock)
  // A Cygwin socket file naming a port nobody listens on: the Cygwin client loads, then fails.
  const cygwin = path.join(dir, 'cygwin-socket')
  fs.writeFileSync(cygwin, '!<socket >1 s 00000000-00000000-00000000-00000000\0', { mode: 0o600 })
  const c = await runPart(dir, 'uds-relay', [cygwin], '')
  t.match(c.stderr, /nobody listens there/, 'the Cygwin client ran')
  t.ok(c.loaded.includes('shared/channels/cygwin/client.js'), 'a Cygwin socket file loads the Cygwin client')
  const a = await runPart(dir, 'uds-relay', ['--agent', sock], '')
  t.equal(a.code, 0, a.stderr)
  t.ok(a.loaded.includes('shared/agent/relay.js'), '--agent loads the message relay')
})

t.test('npiperelay on a socket loads the libassuan client only with -a', async (t) => {
  const dir = shortTempDir(t)
  const sock = path.join(dir, 's')
  await echoSocket(t, sock)
  const r = await runPart(dir, 'npiperelay', ['-ei', sock], 'hi')
  t.same([r.code, r.stdout], [0, 'echo:hi'], `it relayed ${r.stderr}`)
  t.same(matching(r.loaded, [/^shared\/channels\/assuan\//, /^shared\/win32\//, /^node_modules\/koffi\//]), [], 'no libassuan or Win32 code')
  const a = await runPart(dir, 'npiperelay', ['-a', path.join(dir, 'missing')], '')
  t.match(a.stderr, /no libassuan socket file/, 'the libassuan client ran')
  t.ok(a.loaded.includes('shared/channels/assuan/client.js'), '-a loads it')
})
