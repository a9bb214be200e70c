/**
 * Bundles relaykit into the one CommonJS file a Node SEA runs as its main
 * script. A SEA's main script cannot import files or packages at run time, so
 * everything, koffi's JavaScript included, must be inside it.
 */
import { build } from 'esbuild'
import { koffiSeaPlugin, type KoffiAddon } from './koffi-sea-plugin.js'
import { BuildError } from './run-tool.js'

/** What {@link bundle} needs to know. */
export interface BundleOptions {
  /** Project root: esbuild's working directory, so the bundle's path comments are relative. */
  readonly root: string
  /** Entry point, relative to root or absolute. */
  readonly entry: string
  /** Output file, absolute. */
  readonly outfile: string
  /** koffi addons that some executable embeds, by triplet. */
  readonly addons: ReadonlyMap<string, KoffiAddon>
}

/**
 * Writes the bundle.
 *
 * @throws BuildError when esbuild fails (it prints the details itself) or the
 *   koffi plugin did not find what it must replace.
 */
export async function bundle(options: BundleOptions): Promise<void> {
  const koffi = koffiSeaPlugin(options.root, options.addons)
  await build({
    absWorkingDir: options.root,
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // Unminified: a stack trace from a user's machine should point at readable code.
    minify: false,
    charset: 'utf8',
    legalComments: 'inline',
    logLevel: 'warning',
    logOverride: {
      // koffi's fallback search uses eval("require"); it never runs in a SEA,
      // where the plugin supplies the addon.
      'direct-eval': 'silent',
    },
    plugins: [koffi.plugin],
  }).catch((err: unknown) => {
    // esbuild has already printed each error with its source location.
    throw new BuildError(`esbuild could not bundle ${options.entry}: ${(err as Error).message}`)
  })
  koffi.assertAllReplaced()
}
