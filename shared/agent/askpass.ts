import { spawn } from 'node:child_process'

/**
 * Asking the user through an askpass program, OpenSSH's way (ssh-agent's
 * confirm, `readpass.c`): the program gets the prompt as its one argument
 * and `SSH_ASKPASS_PROMPT=confirm` in its environment (ssh-askpass then
 * shows yes/no instead of a passphrase field); it means yes when it exits 0
 * having printed nothing or "yes". Anything else is a no: another exit code,
 * a crash, other output, or no answer within the timeout (the program is
 * then killed). What it prints is never logged.
 */
export type AskResult = { readonly allowed: true } | { readonly allowed: false; readonly why: string }

/** stdout beyond this is not an answer ssh-askpass gives: a no. */
const MAX_OUTPUT = 256

export function askWithProgram(program: string, prompt: string, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<AskResult> {
  return new Promise((resolve) => {
    let output = Buffer.alloc(0)
    let settled = false
    const finish = (result: AskResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(result)
    }
    const child = spawn(program, [prompt], {
      env: { ...env, SSH_ASKPASS_PROMPT: 'confirm' },
      stdio: ['ignore', 'pipe', 'ignore'],
      windowsHide: false,
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      finish({ allowed: false, why: `no answer within ${timeoutMs / 1000} s` })
    }, timeoutMs)
    child.stdout.on('data', (chunk: Buffer) => {
      if (output.length <= MAX_OUTPUT) output = Buffer.concat([output, chunk])
    })
    child.once('error', (err: NodeJS.ErrnoException) => finish({ allowed: false, why: `cannot run the askpass program (${err.code ?? 'error'})` }))
    child.once('close', (code, signal) => finish(answerOf(code, signal, output)))
  })
}

function answerOf(code: number | null, signal: NodeJS.Signals | null, output: Buffer): AskResult {
  if (signal !== null) return { allowed: false, why: `the askpass program was killed by ${signal}` }
  if (code !== 0) return { allowed: false, why: `the askpass program said no (exit code ${code})` }
  const said = output.toString('utf8').replace(/\r?\n$/, '')
  if (said === '' || said.toLowerCase() === 'yes') return { allowed: true }
  return { allowed: false, why: 'the askpass program printed something other than yes' }
}
