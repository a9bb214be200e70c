/**
 * Runs the external tools of the build (npm, tar, the target Node, postject,
 * osslsigncode) and turns their failures into one readable message.
 */
import { execFile, type ExecFileException } from 'node:child_process'

/**
 * A failure the build explains itself: `build.ts` prints only its message,
 * without a stack trace, because the message already says what to do.
 */
export class BuildError extends Error {
  override name = 'BuildError'
}

/** What a finished tool printed. */
export interface ToolOutput {
  readonly stdout: string
  readonly stderr: string
}

/** Options for {@link runTool}. */
export interface RunToolOptions {
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** One sentence prepended to the error: what the step needs, e.g. the registry. */
  readonly hint?: string
  /** Written to the tool's stdin, which then ends; without it stdin stays open. */
  readonly input?: string | Buffer
  /** Killed (and failed) after this long; without it the tool may run forever. */
  readonly timeoutMs?: number
}

// Only kept to explain a failure, but a chatty tool must not fail for it.
const MAX_BUFFER = 16 * 1024 * 1024

/**
 * The output worth showing: all of it when short, else both ends. npm puts
 * the cause first (`npm error code ECONNREFUSED`), postject puts it last.
 */
function excerpt(text: string, keep = 8): string {
  const lines = text.trim().split('\n')
  if (lines.length <= keep * 2 + 1) return lines.join('\n')
  return [...lines.slice(0, keep), '…', ...lines.slice(-keep)].join('\n')
}

function describeFailure(file: string, args: readonly string[], err: ExecFileException, out: ToolOutput): string {
  const command = [file, ...args].join(' ')
  if (err.code === 'ENOENT') return `${command}: ${file} is not installed or not on PATH`
  const how = err.signal ? `killed by ${err.signal}` : `exit code ${String(err.code)}`
  const printed = excerpt(`${out.stdout}\n${out.stderr}`)
  return `${command} failed (${how})${printed ? `:\n${printed}` : ''}`
}

/**
 * Runs `file args` without a shell and resolves with its output.
 *
 * @throws BuildError with the hint, the command and an excerpt of its output.
 */
export function runTool(file: string, args: readonly string[], options: RunToolOptions = {}): Promise<ToolOutput> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env, maxBuffer: MAX_BUFFER, encoding: 'utf8', timeout: options.timeoutMs ?? 0 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr })
        const message = describeFailure(file, args, err, { stdout, stderr })
        reject(new BuildError(options.hint ? `${options.hint}\n${message}` : message))
      },
    )
    if (options.input !== undefined) {
      // A tool that exits without reading it must not crash the build with EPIPE.
      child.stdin?.on('error', () => {})
      child.stdin?.end(options.input)
    }
  })
}
