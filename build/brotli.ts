/**
 * Brotli-compressing SEA assets that the executable needs only now and then
 * (koffi's addon, the parts started once per session): Wine reads an
 * executable's whole image into memory at every start, so each byte of the
 * blob counted in the resident memory of every relay there.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { brotliCompress, constants } from 'node:zlib'

const compress = promisify(brotliCompress)

/**
 * SEA assets (key → file) as the blob generator gets them: an asset whose
 * key ends in `.br` is its file brotli-compressed into `dir`, the others
 * their file as it is.
 */
export async function compressedWhereNamed(assets: Readonly<Record<string, string>>, dir: string): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true })
  const entries = Object.entries(assets).map(async ([key, file]) => [key, key.endsWith('.br') ? await writeCompressed(file, join(dir, key.replaceAll('/', '_'))) : file])
  return Object.fromEntries(await Promise.all(entries))
}

/**
 * Writes `source` brotli-compressed to `dest` and returns `dest`. Quality 9
 * takes 0.1 s for koffi's 1.6 MB addon; 11 saves 50 kB more for 3 s.
 */
async function writeCompressed(source: string, dest: string): Promise<string> {
  const bytes = await readFile(source)
  await writeFile(dest, await compress(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }))
  return dest
}
