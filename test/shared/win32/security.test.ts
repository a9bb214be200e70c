/**
 * The SDDL helpers of shared/win32/security.ts (pure; the descriptor as
 * Windows stores it is read back under Wine in pipe-server.test.ts).
 */
import t from 'tap'
import { parseSddl, userOnlySddl } from '../../../shared/win32/security.js'

const SID = 'S-1-5-21-1004336348-1177238915-682003330-1000'

t.test('userOnlySddl: owner and sole grantee is the user, DACL protected', async (t) => {
  t.equal(userOnlySddl(SID), `O:${SID}D:P(A;;GA;;;${SID})`)
})

t.test('parseSddl takes owner, group, DACL flags and ACEs apart', async (t) => {
  t.same(parseSddl(`O:${SID}G:S-1-5-21-0-0-0-513D:P(A;;GA;;;${SID})`), {
    owner: SID,
    group: 'S-1-5-21-0-0-0-513',
    daclFlags: 'P',
    aces: [`A;;GA;;;${SID}`],
  })
  // The order Windows writes, with aliases and several ACEs.
  t.same(parseSddl('O:BAG:SYD:PAI(A;;FA;;;SY)(A;;0x12019f;;;WD)S:(ML;;NW;;;LW)'), {
    owner: 'BA',
    group: 'SY',
    daclFlags: 'PAI',
    aces: ['A;;FA;;;SY', 'A;;0x12019f;;;WD'],
  })
  t.same(parseSddl(`O:${SID}`), { owner: SID, group: undefined, daclFlags: '', aces: [] }, 'no DACL part')
})
