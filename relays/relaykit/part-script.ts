import { Script } from 'node:vm'

/**
 * Compiling one part of the standalone executable (see route.ts) from its
 * source, with V8's code cache when the build could make one.
 *
 * The build makes the cache by running this same function in the target's
 * own Node (the code cache is only valid for the V8 build, platform and
 * flags that made it), so the wrapped source and the file name given to V8
 * must be the same here and there: V8 rejects a cache whose source differs,
 * and then simply compiles.
 */

/** What every part exports. */
export interface PartExports {
  /** Runs the part's command line as the process (stdio, exit code). */
  run(invoked: string, args: readonly string[]): void
}

/** A compiled, evaluated part. */
export interface CompiledPart {
  readonly exports: PartExports
  readonly script: Script
  /** true when V8 refused the cache given (other V8 flags, other build); undefined without one. */
  readonly cacheRejected: boolean | undefined
}

/** How a part reaches other modules: inside the executable only Node's builtins exist. */
export type PartRequire = (id: string) => unknown

/** Node's builtins, and nothing else: what `require` can reach inside a single executable. */
export const requireBuiltin: PartRequire = (id) => {
  const found = process.getBuiltinModule?.(id)
  if (found === undefined) throw new Error(`relaykit: a part required "${id}", which is not a Node builtin`)
  return found
}

/**
 * The require of a part run from files (`node dist/relaykit.cjs` in a
 * checkout), where koffi's addon comes from node_modules.
 */
export function requireNextTo(file: string): PartRequire {
  // Loaded here, not imported: the executable's start never needs node:module.
  const { createRequire } = process.getBuiltinModule('node:module') as typeof import('node:module')
  return createRequire(file)
}

const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {'
const WRAPPER_TAIL = '\n})'

/** Compiles and evaluates the CommonJS bundle of part `name`. */
export function compilePart(name: string, source: string, require: PartRequire, cachedData?: Uint8Array): CompiledPart {
  const filename = `relaykit/${name}.js`
  const script = new Script(WRAPPER_HEAD + source + WRAPPER_TAIL, {
    filename,
    ...(cachedData ? { cachedData } : {}),
  })
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  const module = { exports: {} as PartExports }
  wrapper.call(module.exports, module.exports, require, module, filename, 'relaykit')
  return { exports: module.exports, script, cacheRejected: cachedData ? script.cachedDataRejected : undefined }
}
