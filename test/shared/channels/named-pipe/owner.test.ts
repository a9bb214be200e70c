/**
 * trustedPipeOwner (pure): which owners of a named pipe a client accepts.
 * The squatted pipe itself is refused under Wine in
 * test/security/pipe-owner.test.ts.
 */
import t from 'tap'
import { trustedPipeOwner } from '../../../../shared/channels/named-pipe/client.js'

const ME = 'S-1-5-21-1004336348-1177238915-682003330-1000'
const OTHER = 'S-1-5-21-1004336348-1177238915-682003330-1001'

t.test('the user and the system accounts a service runs as are trusted', async (t) => {
  for (const owner of [ME, 'SY', 'S-1-5-18', 'BA', 'S-1-5-32-544']) t.ok(trustedPipeOwner(owner, ME), owner)
})

t.test('another user, a group anyone can be in, and a SID that merely starts like ours are not', async (t) => {
  for (const owner of [OTHER, 'BU', 'AU', 'WD', 'S-1-5-32-545', `${ME}1`, ME.slice(0, -1)]) t.notOk(trustedPipeOwner(owner, ME), owner)
})

t.test('no owner (only Wine makes such pipes) cannot be judged and is let through', async (t) => {
  t.ok(trustedPipeOwner('', ME))
})
