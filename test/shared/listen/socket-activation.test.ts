/**
 * sd_listen_fds semantics of takeActivatedSockets: which hand-overs count,
 * and that the variables never reach what relay-listen starts.
 */
import t from 'tap'
import { SD_LISTEN_FDS_START, takeActivatedSockets } from '../../../shared/listen/socket-activation.js'

t.test('sockets meant for this pid, from fd 3, with their names; the variables are removed', async (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'agent:', KEEP: 'x' }
  t.same(takeActivatedSockets(env, 4242), [
    { fd: SD_LISTEN_FDS_START, name: 'agent' },
    { fd: SD_LISTEN_FDS_START + 1, name: undefined },
  ])
  t.equal(SD_LISTEN_FDS_START, 3)
  t.same(env, { KEEP: 'x' })
})

t.test('a hand-over meant for another process (a parent that left them in the environment) is ignored, and still removed', async (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '4242', LISTEN_FDS: '1' }
  t.same(takeActivatedSockets(env, 4243), [])
  t.same(env, {})
  t.same(takeActivatedSockets({ LISTEN_FDS: '1' }, 4243), [], 'no LISTEN_PID: not ours')
  t.same(takeActivatedSockets({ LISTEN_PID: '4242junk', LISTEN_FDS: '1' }, 4242), [], 'a LISTEN_PID that is not a number')
  t.same(takeActivatedSockets({}, 1), [])
})

t.test('a LISTEN_FDS that is not a count is an error naming it', async (t) => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '7', LISTEN_FDS: 'three' }
  t.throws(() => takeActivatedSockets(env, 7), /LISTEN_FDS=three is not a number/)
  t.same(env, {}, 'removed all the same')
})
