/**
 * Opening a recording for upload without trusting its path (docs/architecture.md, "Security" → "The
 * ingest door"): the path was checked when the call was ingested, but the worker reads it later, and a
 * symbolic link planted meanwhile would make it upload any file the process can read. So the file is
 * opened without following a link in its last component (`O_NOFOLLOW`), must be a regular file, and —
 * when its path lies in one of the confining folders — its real path must lie there too, and be the very
 * file opened (same device and inode), so that a link in a parent folder cannot lead out either. The
 * upload then streams from that handle, never from the path again.
 */
import { constants } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isInsideFolders } from '../ingest/resolve-path.ts';

/** An open recording: stream it from `handle`, then close it. */
export interface OpenRecording {
  handle: FileHandle;
  size: number;
  /** The real path of the file opened. */
  realPath: string;
}

/** A recording that may not be uploaded (a link, not a file, outside its folder); `code` as an errno. */
export class RecordingAccessError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RecordingAccessError';
    this.code = code;
  }
}

async function realOrSelf(dir: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch {
    return resolve(dir);
  }
}

/**
 * Open `path` for reading as described in the module comment. `confineTo` lists folders whose files
 * must really be inside them (a path outside every one of them is only opened without following links).
 * Throws a RecordingAccessError (`ELOOP` for a link, `ENOTFILE`, `EOUTSIDE`, `ECHANGED`) or the errno
 * error of the open itself.
 */
export async function openRecordingConfined(path: string, confineTo: readonly string[] = []): Promise<OpenRecording> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the worker in open().
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new RecordingAccessError('ELOOP', `${path} is a symbolic link; recordings are never read through links`);
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new RecordingAccessError('ENOTFILE', `${path} is not a regular file`);
    const real = await realpath(path);
    const folders = confineTo.map((f) => resolve(f));
    if (folders.length > 0) {
      const realFolders = await Promise.all(folders.map(realOrSelf));
      if (isInsideFolders(resolve(path), [...folders, ...realFolders]) && !isInsideFolders(real, realFolders)) {
        throw new RecordingAccessError('EOUTSIDE', `${path} leads outside its recordings folder (to ${real}); refused`);
      }
      // The path may have been swapped between the open and realpath: the checked file must be the one opened.
      const now = await stat(real);
      if (now.dev !== info.dev || now.ino !== info.ino) throw new RecordingAccessError('ECHANGED', `${path} changed while it was opened; refused`);
    }
    return { handle, size: info.size, realPath: real };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}
