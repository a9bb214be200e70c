// Proves the Windows lab works end to end: node.exe under Wine, the real
// Pageant reached from Linux ssh-add through socat + a node.exe relay, and
// msgpipe-server.exe (message mode, zero-length messages, busy pipe).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import {
  ensureWineServer,
  requireLab,
  runWine,
  startMsgPipeServer,
  spawnHost,
  startPageant,
  uniquePipeName,
  winPath,
} from '../../lab/winlab.js';
import { needs } from '../../lab/prerequisites.js';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => path.join(here, 'fixtures', name);

const lab = requireLab(t);
if (lab) {
  const ppk = path.join(lab.keysDir, 'id_ed25519.ppk');

  t.test('node.exe runs under Wine', async (t) => {
    const r = await runWine(lab, lab.nodeExe, ['-e', 'console.log(process.version)'], { t });
    t.equal(r.code, 0, `exit code (stderr: ${r.stderr})`);
    t.equal(r.stdout.trim(), 'v22.23.2');
  });

  t.test('Linux ssh-add lists the key through socat, a node.exe relay and Pageant', needs(t, ['socat', 'ssh-add', 'ssh-keygen']), async (t) => {
    const pageant = await startPageant(lab, [ppk], { t });
    t.match(pageant.pipeName, /^\\\\\.\\pipe\\pageant\.[^.]+\.[0-9a-f]{64}$/, 'pipe name from --openssh-config');
    t.match(fs.readFileSync(pageant.opensshConfigPath, 'utf8'), /^IdentityAgent \S+\r\n$/, 'config has CRLF ending');

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-lab-test-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sock = path.join(dir, 's');
    ensureWineServer(lab);
    // The pipe name goes through the environment: socat's EXEC string would
    // mangle its backslashes. The relay path is a Unix path for the same
    // reason; node.exe resolves it on drive Z: (the cwd's drive).
    const socat = spawnHost(lab, 'socat', [`UNIX-LISTEN:${sock}`, `EXEC:${lab.wine64} ${lab.nodeExe} ${fixture('agent-relay.cjs')}`], {
      env: { RELAY_PIPE: pageant.pipeName },
      stdio: ['ignore', 'ignore', 'pipe'],
      teardownSignal: 'SIGTERM',
      t,
    });
    let socatErr = '';
    socat.stderr?.on('data', (d: Buffer) => (socatErr += d.toString()));
    for (let i = 0; !fs.existsSync(sock); i++) {
      if (i > 200) throw new Error(`socat did not listen: ${socatErr}`);
      await new Promise((r) => setTimeout(r, 25));
    }

    const pub = path.join(lab.keysDir, 'id_ed25519.pub');
    const fingerprint = (await execFileP('ssh-keygen', ['-lf', pub])).stdout.split(' ')[1];
    t.ok(fingerprint?.startsWith('SHA256:'), `fingerprint of ${pub}`);
    const started = Date.now();
    const { stdout } = await execFileP('ssh-add', ['-l'], {
      env: { ...process.env, SSH_AUTH_SOCK: sock },
      timeout: 30_000,
    });
    t.comment(`ssh-add -l took ${Date.now() - started} ms (includes node.exe start under Wine)`);
    t.match(stdout, `${fingerprint} `, 'ssh-add -l shows the lab key');
    t.match(stdout, /\(ED25519\)/);

    // The WM_COPYDATA path needs Pageant's window to be findable.
    const koffi = path.resolve(here, '..', '..', 'node_modules', 'koffi');
    const fw = await runWine(lab, lab.nodeExe, [winPath(fixture('find-window.cjs'))], { env: { KOFFI_PATH: winPath(koffi) }, t });
    t.equal(fw.stdout.trim(), 'found', `FindWindow("Pageant", "Pageant") (stderr: ${fw.stderr})`);

    await pageant.stop();
    t.notOk(pageant.process.exitCode === null && pageant.process.signalCode === null, 'Pageant stopped');
  });

  t.test('msgpipe-server echoes and sees a zero-length message from node.exe', async (t) => {
    const srv = await startMsgPipeServer(lab, uniquePipeName('echo'), { t });
    const r = await runWine(lab, lab.nodeExe, [winPath(fixture('msgpipe-client.cjs'))], { env: { MSGPIPE_NAME: srv.pipeName }, t });
    t.equal(r.code, 0, `client exit code (stdout: ${r.stdout} stderr: ${r.stderr})`);
    t.same(JSON.parse(r.stdout), { echo: 'hello', zero: 'ZERO' });
    await srv.waitFor('disconnected', 10_000);
    t.same(srv.lines, ['ready', 'connected', 'msg 5', 'zero', 'disconnected']);
    await srv.stop();
  });

  t.test('msgpipe-server --busy-hold-ms keeps a second client waiting', async (t) => {
    const holdMs = 1500;
    const srv = await startMsgPipeServer(lab, uniquePipeName('busy'), { busyHoldMs: holdMs, t });
    const env = { MSGPIPE_NAME: srv.pipeName };
    const client = winPath(fixture('msgpipe-client.cjs'));
    // The first client is held and then dropped without an answer.
    const first = runWine(lab, lab.nodeExe, [client], { env, t });
    await srv.waitFor(`holding ${holdMs}`, 15_000);
    // The second finds the only instance busy; node's net.connect waits in
    // WaitNamedPipe and gets served once the held client is dropped.
    const started = Date.now();
    const second = await runWine(lab, lab.nodeExe, [client], { env, t });
    const waited = Date.now() - started;
    t.same(JSON.parse(second.stdout), { echo: 'hello', zero: 'ZERO' }, 'second client served');
    const f = await first;
    t.not(f.code, 0, `first client was dropped (${f.stdout.trim()})`);
    t.ok(waited > 300, `second client waited for the hold (${waited} ms)`);
    await srv.waitFor('disconnected', 10_000);
    t.same(srv.lines, ['ready', 'connected', `holding ${holdMs}`, 'released', 'connected', 'msg 5', 'zero', 'disconnected']);
    await srv.stop();
  });

  t.test('a failed wine warm-up is tried once more after the server is started again', async (t) => {
    // A fake wine64 that fails its first run (the fault seen once in a full
    // run cannot be produced on demand); the real wineserver stays.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-warmup-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const run = (failures: number) => {
      const fake = path.join(dir, `wine-${failures}`);
      fs.writeFileSync(fake, `#!/bin/sh\necho run >> "${fake}.runs"\n[ "$(wc -l < "${fake}.runs")" -gt ${failures} ]\n`, { mode: 0o755 });
      const module = path.join(here, '..', '..', 'lib', 'lab', 'winlab.js');
      const script = `import(${JSON.stringify(module)}).then((m) => m.ensureWineServer({ ...m.labStatus().env, wine64: ${JSON.stringify(fake)} }))`;
      return execFileP(process.execPath, ['-e', script], { env: { ...process.env, NODE_OPTIONS: '' } })
        .then(() => 'ok', (err: { stderr: string }) => err.stderr)
        .then((outcome) => ({ outcome, runs: fs.readFileSync(`${fake}.runs`, 'utf8').split('\n').length - 1 }));
    };
    t.same(await run(1), { outcome: 'ok', runs: 2 }, 'one failure: warmed up on the second try');
    const twice = await run(2);
    t.equal(twice.runs, 2, 'two failures: no third try');
    t.match(twice.outcome, 'winlab: wine warm-up (cmd /c exit) exited 1', 'and the error says what failed');
  });
}
