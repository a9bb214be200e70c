/**
 * openStdio's stdout on POSIX when fd 1 is a file or a device that is not a
 * terminal, which it writes synchronously (that no fs streams load for it
 * is checked in test/build/parts.test.ts): every byte in order, and a
 * failed write is the relay's error, not dropped as a diagnostic would be.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { repoRoot } from '../../lab/built.js'
import { shortTempDir } from '../../lab/temp-dir.js'

const stdioModule = pathToFileURL(path.join(repoRoot, 'lib', 'shared', 'stdio.js')).href

/**
 * Writes `mib` MiB of a counting pattern to openStdio().stdout in 64 KiB
 * chunks, ends it, and reports on stderr how that went.
 */
const WRITER = `
const { openStdio } = await import(${JSON.stringify(stdioModule)})
const { stdout } = openStdio()
const mib = Number(process.argv[1])
let failed = ''
process.on('exit', () => process.stderr.write(failed ? 'error ' + failed + '\\n' : 'no error\\n'))
const settled = new Promise((r) => stdout.once('error', (err) => r((failed = err.code))))
for (let i = 0; i < mib * 16 && !failed; i++) {
  const chunk = Buffer.alloc(64 * 1024, i % 251)
  if (!stdout.write(chunk)) await Promise.race([new Promise((r) => stdout.once('drain', r)), settled])
}
if (!failed) stdout.end(() => process.stderr.write('ended\\n'))
`

function writeTo(fd: number, mib: number): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, String(mib)], { stdio: ['ignore', fd, 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve) => child.once('close', () => resolve(stderr)))
}

t.test('stdout on a regular file gets every byte, in order', async (t) => {
  const file = path.join(shortTempDir(t), 'out')
  const fd = fs.openSync(file, 'w')
  const said = await writeTo(fd, 3)
  fs.closeSync(fd)
  t.equal(said, 'ended\nno error\n')
  const got = fs.readFileSync(file)
  t.equal(got.length, 3 << 20)
  const wrong = Array.from({ length: 48 }, (_, i) => i).find((i) => !got.subarray(i << 16, (i + 1) << 16).equals(Buffer.alloc(64 * 1024, i % 251)))
  t.equal(wrong, undefined, 'each 64 KiB chunk where it belongs')
})

t.test('stdout on a full device: the write fails with ENOSPC for the relay to report', { skip: !fs.existsSync('/dev/full') && 'no /dev/full' }, async (t) => {
  const fd = fs.openSync('/dev/full', 'w')
  const said = await writeTo(fd, 1)
  fs.closeSync(fd)
  t.equal(said, 'error ENOSPC\n')
})
