/**
 * otherGrantees (pure): who besides the user a folder's DACL lets in, as
 * Windows writes it. The SDDL below are the forms Windows stores for
 * C:\Users\Public, a folder made under C:\ and a profile folder; Wine has
 * one user and derives DACLs from Unix modes, so these are written out.
 */
import t from 'tap'
import { otherGrantees } from '../../../shared/win32/security.js'

const ME = 'S-1-5-21-1004336348-1177238915-682003330-1000'
const OTHER = 'S-1-5-21-1004336348-1177238915-682003330-1001'

t.test('a profile folder: the user, SYSTEM and Administrators only', async (t) => {
  t.same(otherGrantees(`O:${ME}D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;${ME})`, ME), [])
})

t.test('a folder under C:\\ : Authenticated Users may modify, Users read; inherit-only entries do not count', async (t) => {
  const sddl = `O:${ME}D:AI(A;ID;FA;;;BA)(A;OICIIOID;GA;;;BA)(A;ID;FA;;;SY)(A;OICIID;0x1301bf;;;AU)(A;OICIID;0x1200a9;;;BU)(A;OICIIO;GA;;;CO)(A;OICIIO;GA;;;${OTHER})`
  t.same(otherGrantees(sddl, ME), ['Authenticated Users', 'Users'])
})

t.test('another user, Everyone, and deny entries', async (t) => {
  t.same(otherGrantees(`D:(D;;FA;;;WD)(A;;FR;;;${OTHER})(A;;0x1200a9;;;WD)(A;;FA;;;${ME})`, ME), [OTHER, 'Everyone'])
})
