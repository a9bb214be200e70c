// placeholder until the dispatcher lands
export function runFromArgv(argv: string[]): void {
  if (argv.includes('--version')) process.stdout.write('relaykit 0.1.0\n')
}
