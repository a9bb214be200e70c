/**
 * esbuild plugin that makes koffi loadable from a Node single executable.
 *
 * koffi 2.x's index.js picks its addon with one
 * `require("./build/koffi/<triplet>/koffi.node")` per platform, in a switch.
 * The plugin turns each of those into a call to `loadKoffiNative()` from
 * sea-native-koffi.cts (bundled in), which reads the file from a SEA asset at
 * run time, or performs the original require when not running as a SEA. See
 * that file for the run-time half.
 *
 * If a koffi upgrade changes how index.js loads its addon, the plugin stops
 * matching; {@link KoffiSeaPlugin.assertAllReplaced} then fails the build
 * rather than producing executables that cannot load koffi.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Plugin } from 'esbuild'
import { BuildError } from './run-tool.js'

/** One platform's `koffi.node` as the build embeds it. */
export interface KoffiAddon {
  /** koffi's platform name, e.g. `linux_x64`. */
  readonly triplet: string
  /** Absolute path of the file in node_modules. */
  readonly file: string
  /**
   * SEA asset key under which the executable carries the file,
   * brotli-compressed: it is needed only to write koffi's cache
   * (sea-native-koffi.cts), and uncompressed its 1.6 MB counted in the
   * memory of every relay under Wine, even one that never loads koffi
   * (brotli.ts).
   */
  readonly assetKey: string
  /** Lower-case hex sha256 of the file, checked again at run time. */
  readonly sha256: string
}

/** Where koffi is installed, seen from the project root. */
export function koffiDir(root: string): string {
  return dirname(createRequire(join(root, 'package.json')).resolve('koffi/package.json'))
}

/** Describes the installed `koffi.node` of each triplet, hashing the files. */
export function koffiAddons(root: string, triplets: readonly string[]): Map<string, KoffiAddon> {
  const dir = koffiDir(root)
  return new Map(
    triplets.map((triplet) => {
      const file = join(dir, 'build', 'koffi', triplet, 'koffi.node')
      const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex')
      return [triplet, { triplet, file, assetKey: `koffi/${triplet}/koffi.node.br`, sha256 }]
    }),
  )
}

const NAMESPACE = 'sea-native-koffi'
// Resolved from the project root; relative so the bundle holds no absolute
// path of the build machine.
const LOADER = './build/sea-native-koffi.cts'
// The specifiers koffi 2.16's index.js uses, and the bare form we load them by.
const KOFFI_ADDON_REQUIRE = /^\.\/build\/koffi\/([a-z0-9_]+)\/koffi\.node$/
const BARE_ADDON = /^koffi\/build\/koffi\/[a-z0-9_]+\/koffi\.node$/

function shimSource(loader: string, triplet: string, addon: KoffiAddon | undefined): string {
  const info = { triplet, assetKey: addon?.assetKey ?? null, sha256: addon?.sha256 ?? null }
  const bare = `koffi/build/koffi/${triplet}/koffi.node`
  return [
    `const { loadKoffiNative } = require(${JSON.stringify(loader)})`,
    `module.exports = loadKoffiNative(${JSON.stringify(info)}, () => require(${JSON.stringify(bare)}))`,
    '',
  ].join('\n')
}

/** The plugin plus a check that it did its job. */
export interface KoffiSeaPlugin {
  readonly plugin: Plugin
  /**
   * @throws BuildError when koffi is in the bundle but its index.js no longer
   *   requires an embedded triplet the expected way.
   */
  assertAllReplaced(): void
}

/**
 * Builds the plugin.
 *
 * @param root - project root; also the esbuild working directory.
 * @param addons - the triplets embedded in some executable. Other triplets are
 *   still redirected, but fail inside a SEA with a clear message.
 */
export function koffiSeaPlugin(root: string, addons: ReadonlyMap<string, KoffiAddon>): KoffiSeaPlugin {
  const koffiIndex = createRequire(join(root, 'package.json')).resolve('koffi')
  const replaced = new Set<string>()
  let koffiBundled = false
  const plugin: Plugin = {
    name: 'koffi-sea',
    setup(build) {
      // Only note that koffi is in the bundle; esbuild loads the file as usual.
      build.onLoad({ filter: /[\\/]koffi[\\/]index\.js$/ }, (args) => {
        if (args.path === koffiIndex) koffiBundled = true
        return undefined
      })
      build.onResolve({ filter: KOFFI_ADDON_REQUIRE }, (args) => {
        if (args.importer !== koffiIndex) return undefined
        const triplet = KOFFI_ADDON_REQUIRE.exec(args.path)?.[1] ?? ''
        replaced.add(triplet)
        return { path: triplet, namespace: NAMESPACE }
      })
      // Outside a SEA the shim requires the addon from node_modules at run time.
      build.onResolve({ filter: BARE_ADDON }, (args) => ({ path: args.path, external: true }))
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
        contents: shimSource(LOADER, args.path, addons.get(args.path)),
        loader: 'js',
        resolveDir: root,
      }))
    },
  }
  return {
    plugin,
    assertAllReplaced() {
      // An app that does not import koffi has nothing to replace.
      if (!koffiBundled) return
      const missing = [...addons.keys()].filter((t) => !replaced.has(t))
      if (missing.length === 0) return
      throw new BuildError(
        `koffi's index.js did not require the addon for ${missing.join(', ')} the way ` +
          `build/koffi-sea-plugin.ts expects (was koffi upgraded?). The executables could not load koffi.`,
      )
    },
  }
}
