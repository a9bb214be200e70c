/**
 * Each Win32 function is bound in one module of shared/win32 only
 * (kernel32.ts for kernel32's and the ntdll calls beside them), except in
 * code that runs from its own source text in a worker: read from
 * the sources, since under Wine a second binding works just as well and no
 * run can tell. The bindings themselves run under Wine in the other tests of
 * this folder.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

/** Every `.ts` file below `dir`. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    if (e.isDirectory()) return sources(full)
    return e.name.endsWith('.ts') ? [full] : []
  })
}

/**
 * Code that runs from its own source text in a worker thread, where no
 * module can be imported: it binds the few calls it makes itself.
 */
const SELF_CONTAINED = [path.join('shared', 'win32', 'pageant-window-thread.ts')]

/** Function name → the files that bind it with `.func('<type> __stdcall NAME(...)')`. */
function bindings(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>()
  for (const file of [...sources(path.join(root, 'shared')), ...sources(path.join(root, 'relays'))]) {
    if (SELF_CONTAINED.includes(path.relative(root, file))) continue
    const text = fs.readFileSync(file, 'utf8')
    for (const m of text.matchAll(/\.func\(\s*'[^']*?__stdcall\s+(\w+)\(/g)) {
      const name = m[1] ?? ''
      const files = found.get(name) ?? new Set<string>()
      files.add(path.relative(root, file))
      found.set(name, files)
    }
  }
  return found
}

t.test('no Win32 function is bound in two files', async (t) => {
  const found = bindings()
  t.ok(found.get('GetLastError')?.has(path.join('shared', 'win32', 'kernel32.ts')), 'the scan finds the bindings (GetLastError in kernel32.ts)')
  const twice = [...found].filter(([, files]) => files.size > 1).map(([name, files]) => `${name}: ${[...files].join(', ')}`)
  t.same(twice, [], 'bound once each')
})

t.test('kernel32.dll and ntdll.dll are loaded by kernel32.ts alone', async (t) => {
  const loaders = sources(path.join(root, 'shared'))
    .filter((file) => !SELF_CONTAINED.includes(path.relative(root, file)))
    .filter((file) => /load\('(kernel32|ntdll)\.dll'\)/.test(fs.readFileSync(file, 'utf8')))
    .map((file) => path.relative(root, file))
  t.same(loaders, [path.join('shared', 'win32', 'kernel32.ts')])
})
