/** True inside a Node single-executable application (the built relaykit). */
export function isSea(): boolean {
  // node:sea appeared in Node 20.12; getBuiltinModule works in every module
  // format, including the CommonJS bundle inside the executable.
  const sea = process.getBuiltinModule?.('node:sea') as { isSea?: () => boolean } | undefined
  return sea?.isSea?.() === true
}
