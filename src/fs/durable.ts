/**
 * Writing files so that they survive a crash or a power cut (docs/architecture.md, "Durability"): a file is
 * written under a temporary `.partial` name (which every reader skips), synced, renamed into place, and
 * its folder synced so that the rename is on disk too. Used by the TranscriptLogger, the LiveKit
 * integration and `serve`'s uploaded recordings.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openPrivate } from './private-files.ts';

/** How the temporary files of `writeFileAtomically` end: `.partial`, so that no reader takes them. */
export const TEMP_SUFFIX = '.tmp.partial';

/** True when something exists at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sync a folder, so that a file renamed or created in it survives a power cut. Windows and some network
 * file systems refuse to sync a folder; by default that is ignored (the file itself is complete), and
 * with `strict` it throws.
 */
export async function syncDir(dir: string, options: { strict?: boolean } = {}): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (options.strict) throw err;
  }
}

/**
 * Write `text` to `file` atomically: a uniquely named `.partial` beside it (two writers of the same
 * file may race), fsync, rename over `file`, fsync of the folder. A crash leaves the old file or the
 * new one, never half of one.
 */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
  await writeAndRename(`${file}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`, file, text);
  await syncDir(dirname(file));
}

/**
 * Create `temp` (exclusively: an existing one is an `EEXIST` error and is left alone, so that a caller
 * can claim names with it), write `text`, fsync, and rename it to `file`. On a failure after `temp` was
 * created, `temp` is removed. The folder is not synced: see `syncDir`.
 */
export async function writeAndRename(temp: string, file: string, text: string): Promise<void> {
  // 0600 whatever the umask: the rename keeps this mode (docs/architecture.md, "Security").
  const handle = await openPrivate(temp, 'wx');
  try {
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
