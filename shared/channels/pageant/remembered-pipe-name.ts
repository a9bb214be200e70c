import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * Pageant's pipe name, remembered between starts of pageant-relay.
 *
 * Computing the name (pipe-name.ts) takes two Win32 calls (CryptProtectMemory
 * among them) on every pageant-relay start, on top of what npiperelay costs
 * (both load koffi to check the pipe's owner). The name only changes when the
 * user or the boot (CryptProtectMemory's key) changes, so the relay keeps
 * it in `%LOCALAPPDATA%\relaykit\pageant-pipe.json` with the user and the
 * boot it was computed for, and uses it while all three still match and the
 * pipe answers; otherwise it computes the name again and rewrites the file.
 *
 * The file is private: created with the user-only security descriptor
 * (nobody else can read which pipe we talk to, nor swap it for another).
 * The content is checked to be a Pageant pipe name for this user before it
 * is used, so at worst a stale file costs one failed connect.
 */

/** What is remembered: the name, and for whom and since when it holds. */
export interface RememberedPipeName {
  user: string
  /** Boot time, ms since the epoch, to the second. */
  boot: number
  name: string
}

/** What the remembering needs from the machine; injectable for tests. */
export interface RememberHost {
  /** The file, or undefined where there is no per-user folder to keep it in. */
  file: string | undefined
  user: string
  boot: number
  /** Creates `file` (absent) private to the user, empty. */
  createPrivate(file: string): Promise<void>
}

/** Boot times computed at different moments differ by rounding: this much is the same boot. */
const SAME_BOOT_MS = 5_000

/**
 * The real host: `%LOCALAPPDATA%`, the user, the boot time from the uptime.
 * The user is read from the environment, not from Windows (that would cost
 * what remembering saves): `%USERNAME%`, and `$USER` where set, because
 * Wine takes the account name Windows calls return from `$USER` while
 * keeping the profile (and so the file) of the Unix user.
 */
export function windowsRememberHost(env: NodeJS.ProcessEnv): RememberHost {
  return {
    file: env.LOCALAPPDATA ? path.join(env.LOCALAPPDATA, 'relaykit', 'pageant-pipe.json') : undefined,
    user: [env.USERNAME, env.USER].filter(Boolean).join('/'),
    boot: Math.round((Date.now() - os.uptime() * 1000) / 1000) * 1000,
    createPrivate: async (file) => {
      const [{ createPrivateFile }, { FILE_ATTRIBUTE_NORMAL }] = await Promise.all([
        import('../../win32/private-file.js'),
        import('../../win32/file-attributes.js'),
      ])
      await createPrivateFile(file, FILE_ATTRIBUTE_NORMAL)
    },
  }
}

const PAGEANT_PIPE = /^\\\\\.\\pipe\\pageant\.[^\\]+\.[0-9a-f]{64}$/

function isRemembered(value: unknown): value is RememberedPipeName {
  const v = value as Partial<RememberedPipeName> | null
  return typeof v?.user === 'string' && typeof v.boot === 'number' && typeof v.name === 'string'
}

/** The remembered name, if there is one for this user and this boot; never throws. */
export function recallPipeName(host: RememberHost): string | undefined {
  if (!host.file) return undefined
  let value: unknown
  try {
    value = JSON.parse(fs.readFileSync(host.file, 'utf8'))
  } catch {
    return undefined
  }
  if (!isRemembered(value) || value.user !== host.user || Math.abs(value.boot - host.boot) > SAME_BOOT_MS) return undefined
  return PAGEANT_PIPE.test(value.name) ? value.name : undefined
}

/**
 * Remembers `name` for this user and boot: a new private file, renamed over
 * the old one (the rename keeps the new file's descriptor). Failing to
 * remember costs only the next start's time, so errors are returned, not
 * thrown.
 */
export async function rememberPipeName(host: RememberHost, name: string): Promise<Error | undefined> {
  if (!host.file) return undefined
  const temp = `${host.file}.${process.pid}.tmp`
  try {
    fs.mkdirSync(path.dirname(host.file), { recursive: true })
    fs.rmSync(temp, { force: true })
    await host.createPrivate(temp)
    const value: RememberedPipeName = { user: host.user, boot: host.boot, name }
    fs.writeFileSync(temp, JSON.stringify(value))
    fs.renameSync(temp, host.file)
    return undefined
  } catch (err) {
    fs.rmSync(temp, { force: true })
    return err as Error
  }
}
