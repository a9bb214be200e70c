/**
 * Bundles relaykit into the CommonJS files a Node SEA runs: the dispatcher
 * (the SEA's main script, relays/relaykit/sea-main.ts) and one file per part
 * (relays/relaykit/parts/*.ts, carried as SEA assets and compiled only when
 * a command line needs them; see relays/relaykit/route.ts). Code inside a
 * SEA cannot import files or packages at run time, so everything a part
 * uses, koffi's JavaScript included, must be inside it.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { build, type BuildOptions, type Plugin } from 'esbuild'
import { koffiSeaPlugin, type KoffiAddon } from './koffi-sea-plugin.js'
import { type BuiltinKeys, lazyBuiltinsPlugin } from './lazy-builtins-plugin.js'
import { BuildError } from './run-tool.js'

/** The dispatcher's entry, relative to the project root. */
export const MAIN_ENTRY = 'relays/relaykit/sea-main.ts'
/** The folder holding one entry per part, relative to the project root. */
export const PARTS_DIR = 'relays/relaykit/parts'

/** What {@link bundle} needs to know. */
export interface BundleOptions {
  /** Project root: esbuild's working directory, so the bundle's path comments are relative. */
  readonly root: string
  /** Output file of the dispatcher, absolute; the parts go to `parts/<name>.js` beside it. */
  readonly outfile: string
  /** koffi addons that some executable embeds, by triplet. */
  readonly addons: ReadonlyMap<string, KoffiAddon>
  /** Own keys of the builtins the parts load lazily, read from the target Node. */
  readonly builtinKeys: BuiltinKeys
}

/** The part names: one per file in {@link PARTS_DIR}. */
export function partNames(root: string): string[] {
  return readdirSync(join(root, PARTS_DIR))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort()
}

const COMMON: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  // Unminified: a stack trace from a user's machine should point at readable code.
  minify: false,
  // ASCII (the few other characters become \u escapes, the same strings at
  // run time): decoding an ASCII asset gives V8 a one-byte string at once,
  // where a single non-ASCII character made the whole part a two-byte string
  // that is slower to decode and to compile from, at every start.
  charset: 'ascii',
  legalComments: 'inline',
  logLevel: 'warning',
  logOverride: {
    // koffi's fallback search uses eval("require"); it never runs in a SEA,
    // where the plugin supplies the addon.
    'direct-eval': 'silent',
  },
}

async function run(what: string, options: BuildOptions, plugins: Plugin[]): Promise<void> {
  await build({ ...COMMON, ...options, plugins }).catch((err: unknown) => {
    // esbuild has already printed each error with its source location.
    throw new BuildError(`esbuild could not bundle ${what}: ${(err as Error).message}`)
  })
}

/**
 * Writes the dispatcher and the parts; returns the part names.
 *
 * @throws BuildError when esbuild fails (it prints the details itself) or the
 *   koffi plugin did not find what it must replace.
 */
export async function bundle(options: BundleOptions): Promise<string[]> {
  const { root, outfile } = options
  await run(MAIN_ENTRY, { absWorkingDir: root, entryPoints: [MAIN_ENTRY], outfile }, [])
  const parts = partNames(root)
  const koffi = koffiSeaPlugin(root, options.addons)
  await run(
    PARTS_DIR,
    {
      absWorkingDir: root,
      entryPoints: Object.fromEntries(parts.map((p) => [p, `${PARTS_DIR}/${p}.ts`])),
      outdir: join(outfile, '..', 'parts'),
      outExtension: { '.js': '.cjs' },
    },
    [koffi.plugin, lazyBuiltinsPlugin(options.builtinKeys)],
  )
  koffi.assertAllReplaced()
  return parts
}
