import fs from 'node:fs/promises'
import type { AfUnixHost, SocketFiles } from '../channels/af-unix/af-unix.js'
import { foreignFileOwner } from '../channels/owner.js'
import { FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT, getFileAttributes } from './file-attributes.js'
import { restrictFileToUser } from './security.js'
import { winsock } from './winsock.js'

/**
 * What af-unix.ts needs on Windows: Winsock's AF_UNIX sockets
 * (winsock.ts) and the socket files (what is at a path, removing one, and
 * making one private to the user with security.ts).
 *
 * An AF_UNIX socket file is a reparse point (tag IO_REPARSE_TAG_AF_UNIX);
 * libuv's stat follows reparse points and fails on it, so its kind comes
 * from GetFileAttributesW: a reparse point that is not a directory counts
 * as a socket (a symlink to a file would too; the liveness probe then
 * decides). DeleteFile (fs.unlink) removes the file without following it.
 */

const files: SocketFiles = {
  async kind(path) {
    let attributes: number
    try {
      attributes = await getFileAttributes(path)
    } catch {
      return (await fs.lstat(path).then(() => true, () => false)) ? 'other' : 'missing'
    }
    return attributes & FILE_ATTRIBUTE_REPARSE_POINT && !(attributes & FILE_ATTRIBUTE_DIRECTORY) ? 'socket' : 'other'
  },
  async remove(path) {
    await fs.unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  },
  makePrivate: restrictFileToUser,
  // The socket file's own owner (opened as a reparse point, not followed).
  foreignOwner: foreignFileOwner,
}

/** Winsock AF_UNIX and the file side, for connectAfUnix / listenAfUnix. */
export async function afUnixHost(): Promise<AfUnixHost> {
  return { api: await winsock(), files }
}
