import { type AskResult, askWithProgram } from './askpass.js'
import { fingerprint, printableComment } from './key-blob.js'
import { messageOf } from '../relay-error.js'

/**
 * Asking the user before a signature: the words of the question and who
 * asks it.
 *
 * The question is built from relaykit's own knowledge: the key's SHA256
 * fingerprint (computed here from the blob), its comment as relaykit saw it
 * when the key was added or listed by the agent, and the fingerprint of the
 * host key the connection was bound to by session-bind. A requester cannot
 * put words of its own in it.
 *
 * Who asks: `--askpass PROGRAM` when given (also how tests answer); else on
 * Windows a message box on top of every window; else `$SSH_ASKPASS`, as
 * OpenSSH's ssh-agent does. With none of those, nobody can say yes: the
 * signature is refused.
 */
export interface PromptFacts {
  readonly keyBlob: Buffer
  /** As relaykit learnt it; undefined when the agent never told. */
  readonly comment: string | undefined
  readonly hostKey: Buffer | undefined
  readonly forwarded: boolean
}

/** The question, in OpenSSH ssh-agent's words where it has them. */
export function promptText(facts: PromptFacts): string {
  const name = facts.comment === undefined || facts.comment === '' ? '(no comment)' : printableComment(facts.comment)
  const lines = [`Allow use of key ${name}?`, `Key fingerprint ${fingerprint(facts.keyBlob)}.`]
  if (facts.hostKey) lines.push(`Requested for host key ${fingerprint(facts.hostKey)}${facts.forwarded ? ' through a forwarded agent' : ''}.`)
  else if (facts.forwarded) lines.push('Requested through a forwarded agent.')
  return lines.join('\n')
}

export type Ask = (prompt: string) => Promise<AskResult>

export interface AskOptions {
  /** `--askpass`: the program that answers. */
  readonly program: string | undefined
  readonly timeoutMs: number
  readonly env: NodeJS.ProcessEnv
  readonly platform?: NodeJS.Platform
}

/** The way this relay asks, per the rules above. */
export function askerFor(options: AskOptions): Ask {
  const { timeoutMs, env } = options
  const program = options.program ?? ((options.platform ?? process.platform) === 'win32' ? undefined : env.SSH_ASKPASS)
  if (program) return (prompt) => askWithProgram(program, prompt, timeoutMs, env)
  if ((options.platform ?? process.platform) === 'win32') return (prompt) => askWithMessageBox(prompt, timeoutMs)
  return () => Promise.resolve({ allowed: false, why: 'nobody to ask: set SSH_ASKPASS or pass --askpass PROGRAM' })
}

async function askWithMessageBox(prompt: string, timeoutMs: number): Promise<AskResult> {
  try {
    const { askYesNo } = await import('../win32/message-box.js')
    const answer = await askYesNo('relaykit: allow a signature?', prompt, timeoutMs)
    if (answer === 'yes') return { allowed: true }
    return { allowed: false, why: answer === 'timeout' ? `no answer within ${timeoutMs / 1000} s` : 'the user said no' }
  } catch (err) {
    return { allowed: false, why: `cannot show the question: ${messageOf(err)}` }
  }
}
