/**
 * System DLLs that are not KnownDLLs are loaded from System32 by full path,
 * never from relaykit.exe's own folder. Under Wine a DLL built to say when
 * it is loaded is planted as secur32.dll beside a copy of
 * relaykit-win-x64.exe, whose pageant-relay then computes Pageant's pipe
 * name (GetUserNameExA is secur32's). Wine prefers its builtin DLLs to one
 * in the program's folder, so `secur32=n,b` stands in for Windows' search
 * order, where the program's folder comes first; the control shows that
 * with it a bare-name load does pick the planted DLL.
 *
 * crypt32 is loaded by full path too, but is not planted here: node.exe
 * itself imports CRYPT32, IPHLPAPI, USERENV, WINMM and dbghelp by name, so
 * the loader takes a planted copy of those before any code of ours runs.
 * Only a folder others cannot write protects against that (README).
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { builtExecutable } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'
import { type LabEnv, ensureWineServer, requireLab, runWine, winPath } from '../../lab/winlab.js'
import { encodeFrame, AgentMessage } from '../../shared/agent/frames.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const MINGW = 'x86_64-w64-mingw32-gcc'

/** A folder holding `program` (hard-linked) with the planted DLL beside it as secur32.dll. */
function plantedFolder(t: Test, program: string): { dir: string; exe: string; marker: string } {
  const dir = shortTempDir(t)
  const dll = path.join(dir, 'secur32.dll')
  const cc = spawnSync(MINGW, ['-shared', '-o', dll, path.join(here, 'fixtures', 'planted-dll.c')], { encoding: 'utf8' })
  if (cc.status !== 0) throw new Error(`${MINGW} failed: ${cc.stderr || cc.error?.message}`)
  const exe = path.join(dir, path.basename(program))
  fs.linkSync(program, exe)
  return { dir, exe, marker: path.join(dir, 'loaded') }
}

function plantedEnv(lab: LabEnv, marker: string): NodeJS.ProcessEnv {
  return { PLANTED_MARKER: winPath(marker), WINEDLLOVERRIDES: `${lab.winedlloverrides};secur32=n,b` }
}

const lab = requireLab(t)
if (lab) {
  ensureWineServer(lab)

  t.test('control: a bare-name load from a program in that folder takes the planted DLL', async (t) => {
    const { exe, marker } = plantedFolder(t, lab.nodeExe)
    await runWine(lab, exe, ['-e', "try { process.dlopen({ exports: {} }, 'secur32.dll') } catch {}"], { env: plantedEnv(lab, marker), t })
    t.ok(fs.existsSync(marker), 'the planted secur32.dll was loaded')
  })

  t.test('pageant-relay beside a planted secur32.dll does not load it', async (t) => {
    const { exe, marker } = plantedFolder(t, builtExecutable('win-x64'))
    const r = await runWine(lab, exe, ['pageant-relay', '-v', '--transport', 'pipe'], {
      input: encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES),
      env: plantedEnv(lab, marker),
      t,
    })
    t.match(r.stderr, /Pageant pipe: \\\\\.\\pipe\\pageant\./, 'the pipe name was computed (secur32 was used)')
    t.notOk(fs.existsSync(marker), 'the planted secur32.dll was not loaded')
    t.notMatch(r.stderr, /Cannot find function/, 'the real functions were found')
  })
}
