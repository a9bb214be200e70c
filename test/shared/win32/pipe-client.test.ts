/**
 * shared/win32/pipe-client.ts under Wine (fixtures/open-pipe-host.mjs runs
 * the compiled module in node.exe). The opens that succeed, and the owner
 * check, are tested through npiperelay and pageant-relay with real servers.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { assertCompiled } from '../../../lab/built.js'
import { requireLab, runWine, uniquePipeName, winPath } from '../../../lab/winlab.js'

const here = path.dirname(fileURLToPath(import.meta.url))

t.test('openPipe: a pipe nobody serves is ENOENT even when the first error read is another call\'s', async (t) => {
  const lab = requireLab(t)
  if (!lab) return
  assertCompiled(['win32/pipe-client', 'win32/kernel32', 'win32/errors'])
  // The first CreateFileW's last error is lost (set to 0), as when a koffi
  // async call ends on a pool thread right after it; a second open tells.
  const r = await runWine(lab, lab.nodeExe, [winPath(path.join(here, 'fixtures', 'open-pipe-host.mjs'))], {
    env: { PIPE: uniquePipeName('pnone') },
    t,
  })
  const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Record<string, unknown>
  t.same(out, { code: 'ENOENT', winError: 2 }, `not found, from the second open (stderr: ${r.stderr})`)
})
