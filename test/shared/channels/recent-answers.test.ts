/**
 * recentAnswers: connections at about the same time share one lookup (who
 * listens on a port costs 30–80 ms under Wine), and nothing older than its
 * time, nor a failure, is ever given again.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { recentAnswers } from '../../../shared/channels/recent-answers.js'

function counted(fail = false) {
  const calls: number[] = []
  const lookup = async (key: number) => {
    calls.push(key)
    if (fail) throw new Error(`no table for ${key}`)
    return `answer ${key} #${calls.length}`
  }
  return { calls, lookup }
}

t.test('calls within the time share one lookup, per key', async (t) => {
  const { calls, lookup } = counted()
  const ask = recentAnswers(10_000, lookup)
  const answers = await Promise.all([ask(1), ask(1), ask(2), ask(1)])
  t.same(answers, ['answer 1 #1', 'answer 1 #1', 'answer 2 #2', 'answer 1 #1'])
  t.same(calls, [1, 2], 'one lookup per key')
})

t.test('an answer older than the time is looked up again', async (t) => {
  const { calls, lookup } = counted()
  const ask = recentAnswers(50, lookup)
  t.equal(await ask(7), 'answer 7 #1')
  await sleep(80)
  t.equal(await ask(7), 'answer 7 #2', 'a fresh answer')
  t.same(calls, [7, 7])
})

t.test('a failed lookup is not kept', async (t) => {
  const { calls, lookup } = counted(true)
  const ask = recentAnswers(10_000, lookup)
  await t.rejects(ask(3), /no table for 3/)
  await t.rejects(ask(3), /no table for 3/)
  t.same(calls, [3, 3], 'the second call looked again')
})
