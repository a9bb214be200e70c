/**
 * Win32 function bindings made on first use. koffi parses a function's
 * prototype and looks it up when it is bound; kernel32.ts binds over forty
 * functions, and binding them all up front cost every start several
 * milliseconds under Wine, where a relay calls a handful of them.
 */

/** What {@link lazyFunctions} adds to `base`: each maker's result, made on first read and kept. */
export type LazyFunctions<T extends Record<string, () => unknown>> = { readonly [K in keyof T]: ReturnType<T[K]> }

/**
 * `base` with one read-only property per maker, whose value the maker makes
 * the first time it is read. Reading a property binds one function only:
 * never spread or `Object.assign` the result (that reads, and binds, them all).
 */
export function lazyFunctions<B extends object, T extends Record<string, () => unknown>>(base: B, makers: T): B & LazyFunctions<T> {
  for (const [name, make] of Object.entries(makers)) {
    Object.defineProperty(base, name, {
      configurable: true,
      enumerable: true,
      get() {
        const value = make()
        Object.defineProperty(base, name, { value, enumerable: true, writable: false, configurable: false })
        return value
      },
    })
  }
  return base as B & LazyFunctions<T>
}
