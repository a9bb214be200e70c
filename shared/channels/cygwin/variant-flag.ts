import { FlagError, type FlagSpec } from '../../go-flags.js'
import type { CygwinVariant } from './format.js'

/**
 * `--cygwin-variant`: which credential exchange to speak to a Cygwin socket
 * file's server. The client guesses it from the file (format.ts says how
 * and why), and the guess is wrong for a file copied, synced or written by
 * another program: this flag overrides it, and the client's wrong-variant
 * hints name it.
 */
export const CYGWIN_VARIANT_FLAG = 'cygwin-variant'

/** What the flag accepts: a variant, or `auto` for the guess. */
export type CygwinVariantChoice = CygwinVariant | 'auto'

const CHOICES: readonly CygwinVariantChoice[] = ['auto', 'cygwin', 'libassuan']

export const cygwinVariantFlag: FlagSpec = {
  name: CYGWIN_VARIANT_FLAG,
  type: 'string',
  value: CHOICES.join('|'),
  help:
    'for a Cygwin/MSYS2 socket file: the credential exchange its server speaks, cygwin (Cygwin, MSYS2, Git for Windows) ' +
    'or libassuan (gpg-agent\'s S.gpg-agent.ssh); default auto: libassuan on Windows if the file lacks the SYSTEM attribute, else cygwin',
}

/** The flag's value (absent: `auto`); throws FlagError naming the choices. */
export function parseCygwinVariant(value: string | boolean | undefined): CygwinVariantChoice {
  if (value === undefined) return 'auto'
  const found = CHOICES.find((c) => c === value)
  if (found) return found
  throw new FlagError(`-${CYGWIN_VARIANT_FLAG}: "${String(value)}" is not ${CHOICES.slice(0, -1).join(', ')} or ${CHOICES.at(-1)}`)
}
