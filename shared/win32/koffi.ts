/**
 * The one door to koffi. Everything Win32 goes through the modules in this
 * folder, and they load koffi through here, lazily, so relays that never
 * touch Win32 (and every relay on Linux) do not pay for loading it.
 */
import type * as Koffi from 'koffi'

export type KoffiModule = typeof Koffi

let loaded: Promise<KoffiModule> | undefined

/** koffi, loaded on first use. */
export function koffi(): Promise<KoffiModule> {
  if (!loaded) loaded = import('koffi').then((m) => m.default as KoffiModule)
  return loaded
}

/** Whether anything has loaded koffi in this process. */
export function koffiLoaded(): boolean {
  return loaded !== undefined
}
