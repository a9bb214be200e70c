/**
 * `--logfile` on Windows does not follow a symbolic link or junction at the
 * log path: the file is opened with FILE_FLAG_OPEN_REPARSE_POINT and
 * refused when the handle's attributes say reparse point, as O_NOFOLLOW
 * gives ELOOP on POSIX. Wine 8 cannot make a reparse point (a Unix symlink
 * reads as the file it names, CreateSymbolicLinkW does nothing and
 * FSCTL_SET_REPARSE_POINT fails with ERROR_NOT_SUPPORTED), so the Win32
 * calls are faked here: the opener, as Windows would answer it for a link
 * the user made at the path. That the real opener writes the log and sets
 * its DACL under Wine is test/security/log-file-dacl.test.ts.
 */
import t, { type Test } from 'tap'
import { notAPlainFile } from '../../shared/win32/no-follow-file.js'

const FILE_ATTRIBUTE_ARCHIVE = 0x20
const FILE_ATTRIBUTE_DIRECTORY = 0x10
const FILE_ATTRIBUTE_REPARSE_POINT = 0x400
const HANDLE = 1234
const ME = 'S-1-5-21-1-2-3-1000'

t.test('which attributes are not a file to write to', async (t) => {
  t.equal(notAPlainFile(FILE_ATTRIBUTE_ARCHIVE), undefined, 'a plain file')
  t.match(notAPlainFile(FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_REPARSE_POINT), /symbolic link or junction/, 'a file symbolic link')
  t.match(notAPlainFile(FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT), /symbolic link or junction/, 'a junction')
  t.match(notAPlainFile(FILE_ATTRIBUTE_DIRECTORY), /folder/, 'a folder')
})

interface Calls {
  opened: { path: string; access: number }[]
  closed: number[]
  restricted: number[]
  fds: number[]
}

/** log.ts as on Windows, its Win32 calls answered as for a path with `attributes`, created now or existing. */
async function windowsLog(t: Test, attributes: number, created: boolean) {
  const calls: Calls = { opened: [], closed: [], restricted: [], fds: [] }
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')
  Object.defineProperty(process, 'platform', { value: 'win32' })
  t.teardown(() => platform && Object.defineProperty(process, 'platform', platform))
  const real = await import('../../shared/win32/no-follow-file.js')
  const { openLogFile } = await t.mockImport<typeof import('../../shared/log.js')>('../../shared/log.js', {
    '../../shared/win32/private-file.js': {
      createPrivateFile: async () => {
        if (!created) throw Object.assign(new Error('exists'), { code: 'EEXIST' })
      },
    },
    '../../shared/win32/file-attributes.js': { FILE_ATTRIBUTE_NORMAL: 0x80 },
    '../../shared/win32/no-follow-file.js': {
      ...real,
      openNoFollow: async (path: string, access: number) => (calls.opened.push({ path, access }), HANDLE),
      handleAttributes: async (h: number) => (h === HANDLE ? attributes : 0),
      closeHandle: async (h: number) => void calls.closed.push(h),
    },
    '../../shared/win32/security.js': {
      currentUserSid: async () => ME,
      handleOwnerSddl: async () => ME,
      restrictHandleToUser: async (h: number) => void calls.restricted.push(h),
    },
    '../../shared/win32/node-fd.js': { handleToFd: async (h: number) => (calls.fds.push(h), 99) },
  })
  return { open: () => openLogFile('C:\\Users\\me\\relay.log'), calls }
}

t.test('a symbolic link at the log path: refused, exit 1, handle closed, nothing written through it', async (t) => {
  for (const created of [false, true]) {
    const { open, calls } = await windowsLog(t, FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_REPARSE_POINT, created)
    await t.rejects(open(), { message: /cannot open the log file C:\\Users\\me\\relay\.log: it is a symbolic link or junction/, exitCode: 1 })
    t.same(calls.opened.map((o) => o.path), ['C:\\Users\\me\\relay.log'], 'the path itself was opened')
    t.same(calls.closed, [HANDLE], 'and closed')
    t.same(calls.fds, [], 'never turned into a descriptor to write to')
    t.same(calls.restricted, [], 'its DACL not touched')
  }
})

t.test('control: an existing plain file of ours is opened for appending, made private, written through that handle', async (t) => {
  const { open, calls } = await windowsLog(t, FILE_ATTRIBUTE_ARCHIVE, false)
  const log = await open()
  t.ok(log.writable)
  t.equal((calls.opened[0]?.access ?? 0) & 0x6, 0x4, 'FILE_APPEND_DATA, not FILE_WRITE_DATA: every line goes to the end')
  t.same(calls.restricted, [HANDLE], 'the DACL set through the handle written to')
  t.same(calls.fds, [HANDLE], 'the handle became the descriptor')
  t.same(calls.closed, [])
})
