/** Background processes a benchmark starts, all stopped by {@link stopAll}. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'

const started: ChildProcess[] = []

export function daemon(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(cmd, args, { stdio: 'ignore', env })
  started.push(child)
  return child
}

export async function waitForFile(path: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!fs.existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** `socat UNIX-LISTEN:<socket>,fork <target>`, ready when the socket exists. */
export async function socat(socket: string, target: string, env?: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = daemon('socat', [`UNIX-LISTEN:${socket},fork,mode=600,backlog=128`, target], env)
  await waitForFile(socket)
  return child
}

/** An ssh-agent holding one new key. */
export async function sshAgent(dir: string): Promise<string> {
  const socket = `${dir}/agent.sock`
  daemon('ssh-agent', ['-D', '-a', socket])
  await waitForFile(socket)
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/key`])
  execFileSync('ssh-add', ['-q', `${dir}/key`], { env: { ...process.env, SSH_AUTH_SOCK: socket } })
  return socket
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    started.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve()
          c.once('exit', () => resolve())
          c.kill('SIGTERM')
          setTimeout(() => c.kill('SIGKILL'), 2000).unref()
        }),
    ),
  )
}

/** `<exe> relay-listen <socket> ARGS`, ready when the socket exists. */
export async function relayListen(exe: string, socket: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = daemon(exe, ['relay-listen', socket, ...args], env)
  await waitForFile(socket, 30_000)
  return child
}
