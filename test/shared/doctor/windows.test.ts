/**
 * doctor's "relaykit folder" row with the folder's writers injected: the
 * row's wording and fix, and that a folder whose permissions cannot be read
 * is not called safe. The built executable under Wine, in a folder open to
 * Everyone and a private one, is in test/relays/doctor/wine.test.ts.
 */
import t from 'tap'
import { hostFacts } from '../../../shared/doctor/facts.js'
import { type WindowsFacts, checkExecutableFolder } from '../../../shared/doctor/windows.js'

const facts = { ...hostFacts({}, 'win32'), self: 'C:\\tools\\relaykit.exe' }

function windows(folderWriters: WindowsFacts['folderWriters']): WindowsFacts {
  const absent = () => Promise.reject(new Error('not asked in this test'))
  return { pageantWindow: absent, pageantPipeName: absent, queryCopyData: absent, folderWriters }
}

t.test('others may write: fail, naming them, the executable and both fixes', async (t) => {
  const asked: string[] = []
  const row = await checkExecutableFolder(facts, windows(async (dir) => (asked.push(dir), ['Authenticated Users'])))
  t.same(asked, ['C:\\tools'], 'the folder of the executable is asked about')
  t.match(row, {
    name: 'relaykit folder',
    status: 'fail',
    detail: 'C:\\tools: Authenticated Users may write here, and could replace relaykit.exe, which runs as you',
    fix: /%LOCALAPPDATA%\\Programs\\relaykit.*icacls "C:\\tools" \/inheritance:r/,
  })
})

t.test('nobody else may write: ok', async (t) => {
  t.same(await checkExecutableFolder(facts, windows(async () => [])), {
    name: 'relaykit folder',
    status: 'ok',
    detail: 'C:\\tools: only you and the system may write here',
  })
})

t.test('permissions that cannot be read: a warning, not ok', async (t) => {
  const row = await checkExecutableFolder(facts, windows(() => Promise.reject(new Error('cannot open C:\\tools (error 5)'))))
  t.match(row, { status: 'warn', detail: 'C:\\tools: cannot read its permissions: cannot open C:\\tools (error 5)', fix: /icacls/ })
})
