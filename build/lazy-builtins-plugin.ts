/**
 * esbuild plugin that defers loading some of Node's builtin modules until a
 * relay first uses them.
 *
 * A bundle hoists every `import ... from 'node:crypto'` to a `require` that
 * runs when the bundle starts, so every relay paid for crypto, fs/promises
 * (which pulls in readline), os, tty and net even when a run needs none of
 * them (`--version`, a uds-relay that is not asked for a Cygwin socket):
 * about 6 ms of a 40 ms start on the build machine. The plugin resolves
 * those imports to a small module whose export is a proxy: the real module
 * is required on the first property read, and behaves the same from then on.
 *
 * esbuild's interop helper (`__toESM`) lists a module's own keys when it is
 * imported by default or as a namespace; the proxy answers with the key list
 * the build read from the target Node version, without loading the module.
 */
import { builtinModules } from 'node:module'
import type { Plugin } from 'esbuild'

/**
 * The builtins loaded on first use: not loaded by Node's own start-up, and
 * not needed by every run of a relay. Modules every relay needs at once
 * (fs, stream, events, path) gain nothing from a proxy.
 */
export const LAZY_BUILTINS = ['crypto', 'fs/promises', 'os', 'tty', 'net', 'child_process', 'readline', 'zlib', 'https', 'http', 'dgram'] as const

const NAMESPACE = 'lazy-builtin'

/** The own keys of each lazy builtin, as `Object.getOwnPropertyNames` gives them. */
export type BuiltinKeys = Readonly<Record<string, readonly string[]>>

/** Source of the proxy module standing in for `id`. */
export function lazyModuleSource(id: string, keys: readonly string[]): string {
  return `let real
const load = () => (real ??= require(${JSON.stringify(`node:${id}`)}))
const keys = ${JSON.stringify(keys)}
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  set: (_, key, value) => ((load()[key] = value), true),
  has: (_, key) => key in load(),
  ownKeys: () => keys,
  getOwnPropertyDescriptor: (_, key) => (keys.includes(key) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined),
  getPrototypeOf: () => Object.prototype,
})
`
}

/** The plugin; `keys` from {@link readBuiltinKeys} run in the target Node. */
export function lazyBuiltinsPlugin(keys: BuiltinKeys): Plugin {
  const lazy = new Set<string>(LAZY_BUILTINS)
  return {
    name: 'lazy-builtins',
    setup(build) {
      build.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
        if (args.namespace === NAMESPACE) return undefined
        const id = args.path.replace(/^node:/, '')
        if (!lazy.has(id) || !builtinModules.includes(id)) return undefined
        return { path: id, namespace: NAMESPACE }
      })
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => {
        const own = keys[args.path]
        if (!own) throw new Error(`no key list for the builtin ${args.path}`)
        return { contents: lazyModuleSource(args.path, own), loader: 'js' }
      })
    },
  }
}

/** A script for the target Node that prints {@link BuiltinKeys} as JSON. */
export const READ_BUILTIN_KEYS = `process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(LAZY_BUILTINS)}.map((id) => [id, Object.getOwnPropertyNames(require('node:' + id))]))))`
