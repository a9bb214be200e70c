import t from 'tap'
import { tapOutcome } from '../../bench/tap-outcome.js'
import { tapOf } from './fixtures/tap-of.js'

t.test('passed, with the skipped subtests named; a failing TODO is no failure', async (t) => {
  t.same(tapOutcome(tapOf('pass.mjs', { RELAYKIT_FIGURES_DIR: t.testdir() })), { status: 'passed', skipped: ['Wine part (Windows lab not provisioned)'] })
})

t.test('a failed subtest is a failure, by title', async (t) => {
  t.same(tapOutcome(tapOf('fail.mjs', { RELAYKIT_FIGURES_DIR: t.testdir() })), { status: 'failed', failures: ['the relay exits 0'] })
})

t.test('a file killed mid-test is incomplete', async (t) => {
  t.match(tapOutcome(tapOf('crash.mjs', { RELAYKIT_FIGURES_DIR: t.testdir() })), { status: 'incomplete', reason: /no closing plan/ })
})

t.test('a file skipped as a whole says why', async (t) => {
  t.same(tapOutcome(tapOf('skip.mjs')), { status: 'skipped', reason: 'Windows lab not provisioned' })
})

t.test('a bail-out is a failure', async (t) => {
  t.same(tapOutcome(tapOf('bail.mjs')), { status: 'failed', failures: ['bailed out: the agent did not start'] })
})

t.test('nested results and diagnostics do not count; a short count against the plan does', async (t) => {
  t.same(tapOutcome('TAP version 14\n# Subtest: a\n    not ok 1 - inner\n    1..1\nok 1 - a\n1..1\n'), { status: 'passed', skipped: [] }, 'only the top level decides (a subtest whose inner failure was a todo)')
  t.match(tapOutcome('1..3\nok 1 - a\n'), { status: 'incomplete', reason: '1 of 3 planned tests ended' })
  t.match(tapOutcome(''), { status: 'incomplete' }, 'no output at all')
})
