/**
 * otherWriters (pure): who besides the user may write in the folder
 * relaykit.exe runs from, on DACLs as Windows writes them (Wine has one user
 * and derives DACLs from Unix modes, so these are written out). Read and
 * execute grants must not count, or C:\Program Files would be called unsafe.
 */
import t from 'tap'
import { otherWriters } from '../../../shared/win32/security.js'

const ME = 'S-1-5-21-1004336348-1177238915-682003330-1000'
const OTHER = 'S-1-5-21-1004336348-1177238915-682003330-1001'

t.test('a folder under C:\\ : Authenticated Users may modify (inherited), Users only read', async (t) => {
  const sddl = `O:${ME}D:AI(A;ID;FA;;;BA)(A;OICIIOID;GA;;;BA)(A;ID;FA;;;SY)(A;OICIID;0x1301bf;;;AU)(A;OICIID;0x1200a9;;;BU)(A;OICIIO;GA;;;CO)`
  t.same(otherWriters(sddl, ME), ['Authenticated Users'])
})

t.test('C:\\Program Files\\relaykit: Users read and execute, TrustedInstaller and the system write', async (t) => {
  const sddl = `O:S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464D:PAI(A;OICIIO;GA;;;CO)(A;OICIIO;GA;;;SY)(A;;0x1301bf;;;SY)(A;OICIIO;GA;;;BA)(A;;0x1301bf;;;BA)(A;OICIIO;GXGR;;;BU)(A;;0x1200a9;;;BU)`
  t.same(otherWriters(sddl, ME), [])
})

t.test('%LOCALAPPDATA%\\Programs\\relaykit: the user, SYSTEM and Administrators', async (t) => {
  t.same(otherWriters(`O:${ME}D:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;FA;;;${ME})`, ME), [])
})

t.test('write rights in every spelling count; deny entries and container-only inherit-only entries do not', async (t) => {
  t.same(otherWriters(`D:(A;;FW;;;${OTHER})`, ME), [OTHER], 'FW')
  t.same(otherWriters('D:(A;;GW;;;WD)', ME), ['Everyone'], 'GW')
  t.same(otherWriters('D:(A;;WDRC;;;AU)', ME), ['Authenticated Users'], 'WRITE_DAC')
  t.same(otherWriters('D:(A;;0x40;;;BU)', ME), ['Users'], 'FILE_DELETE_CHILD in hex')
  t.same(otherWriters('D:(A;OICIIO;0x1301bf;;;IU)', ME), ['Interactive'], 'inherit-only but reaching the files put there')
  t.same(otherWriters('D:(A;CIIO;0x1301bf;;;IU)', ME), [], 'inherit-only and reaching subfolders only')
  t.same(otherWriters('D:(D;;FA;;;WD)(A;;FR;;;AU)(A;;FX;;;BU)', ME), [], 'a deny, read and execute')
})
