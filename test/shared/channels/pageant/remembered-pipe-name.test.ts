/**
 * The remembered Pageant pipe name: which file content is trusted, how it is
 * written, and PageantTransport using it (a real ssh-agent standing in for
 * Pageant: on Linux a "pipe name" is a file name in the working directory,
 * here a symbolic link to the agent's socket).
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { AgentMessage, encodeFrame, frameOf } from '../../../../shared/agent/frames.js'
import { type RememberHost, recallPipeName, rememberPipeName } from '../../../../shared/channels/pageant/remembered-pipe-name.js'
import { PageantTransport } from '../../../../shared/channels/pageant/transport.js'
import { createLog } from '../../../../shared/log.js'
import { syncWriter } from '../../../../shared/stdio.js'
import { needs } from '../../../../lab/prerequisites.js'
import { shortTempDir } from '../../../../lab/temp-dir.js'
import { AGENT_TOOLS, startAgent } from '../../../fixtures/openssh.js'

const NAME = `\\\\.\\pipe\\pageant.alice.${'ab'.repeat(32)}`
const OTHER = `\\\\.\\pipe\\pageant.alice.${'cd'.repeat(32)}`

/** A host keeping the file in a test directory; createPrivate makes the file, as Windows' would, and counts. */
function host(t: Test, over: Partial<RememberHost> = {}): RememberHost & { created: string[] } {
  const created: string[] = []
  return {
    file: path.join(t.testdir(), 'relaykit', 'pageant-pipe.json'),
    user: 'alice',
    boot: 1_700_000_000_000,
    createPrivate: async (file) => {
      fs.writeFileSync(file, '', { flag: 'wx' })
      created.push(file)
    },
    created,
    ...over,
  }
}

function write(h: RememberHost, value: unknown): void {
  fs.mkdirSync(path.dirname(h.file as string), { recursive: true })
  fs.writeFileSync(h.file as string, typeof value === 'string' ? value : JSON.stringify(value))
}

t.test('recalled only for the same user and boot, and only a Pageant pipe name', async (t) => {
  const h = host(t)
  t.equal(recallPipeName(h), undefined, 'no file: nothing')
  write(h, { user: 'alice', boot: h.boot + 3000, name: NAME })
  t.equal(recallPipeName(h), NAME, 'same user, same boot (within rounding)')
  t.equal(recallPipeName({ ...h, user: 'bob' }), undefined, 'another user')
  t.equal(recallPipeName({ ...h, boot: h.boot + 60_000 }), undefined, 'another boot: CryptProtectMemory has a new key')
  t.equal(recallPipeName({ ...h, file: undefined }), undefined, 'nowhere to keep it')
  write(h, { user: 'alice', boot: h.boot, name: '\\\\.\\pipe\\openssh-ssh-agent' })
  t.equal(recallPipeName(h), undefined, 'a pipe that is not Pageant\'s')
  write(h, '{"user": "alice", "boot": ')
  t.equal(recallPipeName(h), undefined, 'a torn file')
  write(h, { user: 'alice', name: NAME })
  t.equal(recallPipeName(h), undefined, 'no boot')
})

t.test('remembered in a file created private, then renamed into place', async (t) => {
  const h = host(t)
  t.equal(await rememberPipeName(h, NAME), undefined)
  t.equal(h.created.length, 1, 'the file was created through createPrivate')
  t.equal(recallPipeName(h), NAME)
  const ino = fs.statSync(h.file as string).ino
  t.equal(await rememberPipeName(h, OTHER), undefined, 'replaced')
  t.equal(h.created.length, 2, 'a new private file for the new name')
  t.not(fs.statSync(h.file as string).ino, ino, 'the old file was replaced, not written into')
  t.equal(recallPipeName(h), OTHER)
  t.same(fs.readdirSync(path.dirname(h.file as string)), ['pageant-pipe.json'], 'no temporary file left')

  const failing = host(t, { createPrivate: async () => Promise.reject(new Error('access denied')) })
  t.match(await rememberPipeName(failing, NAME), { message: 'access denied' }, 'a failure is returned, not thrown')
  t.equal(fs.existsSync(failing.file as string), false, 'and nothing is written')
})

t.test('PageantTransport: the remembered name first, computed again when its pipe is gone', needs(t, AGENT_TOOLS), async (t) => {
  // Short: the agent's socket path must fit in sun_path.
  const dir = shortTempDir(t)
  const agent = await startAgent(t, dir)
  const cwd = process.cwd()
  process.chdir(dir)
  t.teardown(() => process.chdir(cwd))
  const request = encodeFrame(AgentMessage.SSH_AGENTC_REQUEST_IDENTITIES)
  const log = createLog(syncWriter(2), 'test', false)
  const ask = async (h: RememberHost, discover: () => Promise<string>) => {
    const transport = new PageantTransport({ mode: 'pipe', timeoutMs: 5000, log, remember: h, discover })
    try {
      return (await transport.query(frameOf(request))).type
    } finally {
      transport.close()
    }
  }
  fs.symlinkSync(agent.socket, path.join(dir, NAME))
  let computed = 0
  const discover = async () => {
    computed++
    return NAME
  }

  const h = host(t)
  t.equal(await ask(h, discover), AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, 'nothing remembered: computed')
  t.equal(computed, 1)
  t.equal(recallPipeName(h), NAME, 'and remembered')
  t.equal(await ask(h, discover), AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, 'the next start')
  t.equal(computed, 1, 'used the remembered name without computing it')
  t.equal(h.created.length, 1, 'an unchanged name is not written again')

  write(h, { user: h.user, boot: h.boot, name: OTHER })
  t.equal(await ask(h, discover), AgentMessage.SSH_AGENT_IDENTITIES_ANSWER, 'a remembered pipe that is gone')
  t.equal(computed, 2, 'was computed again')
  t.equal(recallPipeName(h), NAME, 'and the right name remembered')
})
