/**
 * `crm-upload restore FILE` for the SQLite outbox (README, "Backups", "Upgrade and roll back"): put a
 * backup back in place of the outbox, after checking it, keeping the file it replaces aside.
 *
 * A SQLite file may only be swapped while no process has it open: a worker still running would go on
 * writing the old file (and its WAL) while new processes read the restored one. So the outbox must not
 * be in use: SQLite itself says whether it is, as an exclusive lock (`locking_mode = EXCLUSIVE` and a
 * write transaction, with no wait) is refused while any other connection holds the file, idle or not.
 * `force` restores anyway (the processes still using the old file must then be stopped at once).
 *
 * Steps: check the backup (integrity, known schema version, outbox table); copy it beside the outbox as
 * a 0600 `.restoring` file and sync it; fold the outbox's WAL into it (checkpoint) and rename the
 * outbox, with any -wal and -shm, to `<outbox>.replaced-<time>`; rename the copy into place; sync the
 * folder. A crash at any point leaves either the old outbox or the restored one under the outbox's name.
 * When run as root (an operator restoring a service's outbox), the restored file is given the owner of
 * the file it replaces (or of its folder), so that the service's user can still write it.
 */
import { chownSync, copyFileSync, existsSync, statSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ConfigError } from '../errors.ts';
import { syncDir } from '../fs/durable.ts';
import { createPrivateFileSync, ensurePrivateDirSync } from '../fs/private-files.ts';
import { checkOutboxFile, type OutboxFileReport } from './sqlite-file-check.ts';

/** The code of a restore refused because another process has the outbox open. */
export const E_OUTBOX_IN_USE = 'E_OUTBOX_IN_USE';

/** Options of `restoreSqliteOutbox`. */
export interface RestoreOptions {
  /** Restore even though another process has the outbox open. */
  force?: boolean;
  /** The time in the name of the file kept aside; default now. */
  now?: Date;
}

/** What a restore did. */
export interface RestoreResult extends OutboxFileReport {
  /** The outbox restored (absolute). */
  outbox: string;
  /** Where the replaced outbox was kept, or null when there was none. */
  replacedBy: string | null;
  /** True when the outbox was in use and `force` restored it anyway. */
  forced: boolean;
}

/**
 * Whether another process has the SQLite file at `path` open. Takes the exclusive lock for an instant
 * when nobody has, and folds the WAL into the file on the way (the last connection's checkpoint).
 */
export function sqliteFileInUse(path: string): boolean {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { timeout: 0 });
  } catch {
    return true;
  }
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    // Everything committed to the WAL goes into the file kept aside, which is then whole on its own.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return false;
  } catch {
    return true;
  } finally {
    db.close();
  }
}

/** Sync a file's data to disk. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `2026-12-06T17-45-03Z`: a time for a file name (no colons). */
function stamp(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

/**
 * Restore the backup at `backupFile` as the outbox at `outbox`. Throws an `InputError` for a backup that
 * is not a sound outbox, an `OutboxVersionError` for one newer than this code, and a ConfigError
 * (E_OUTBOX_IN_USE) when the outbox is open in another process and `force` is not set.
 */
export async function restoreSqliteOutbox(backupFile: string, outbox: string, options: RestoreOptions = {}): Promise<RestoreResult> {
  const from = resolve(backupFile);
  const to = resolve(outbox);
  if (from === to) throw new ConfigError(`${from} is the outbox itself; restore a backup of it`, { file: from });
  const report = checkOutboxFile(from);
  const exists = existsSync(to);
  let forced = false;
  if (exists && sqliteFileInUse(to)) {
    if (options.force !== true) {
      throw new ConfigError(
        `the outbox ${to} is open in another process (a worker, watch, serve or dashboard): stop them first (systemctl stop 'crm-upload-*'), or pass --force`,
        { code: E_OUTBOX_IN_USE, file: to, variable: 'CRM_OUTBOX' },
      );
    }
    forced = true;
  }

  const dir = dirname(to);
  ensurePrivateDirSync(dir);
  const restoring = join(dir, `.${basename(to)}.restoring-${process.pid}`);
  try {
    createPrivateFileSync(restoring);
    copyFileSync(from, restoring);
    await syncFile(restoring);
    giveOwnerOf(exists ? to : dir, restoring);
    let replacedBy: string | null = null;
    if (exists) {
      replacedBy = `${to}.replaced-${stamp(options.now ?? new Date())}`;
      await rename(to, replacedBy);
      // A WAL left by a process that still has the old file open (forced) belongs to the old file.
      for (const suffix of ['-wal', '-shm']) if (existsSync(to + suffix)) await rename(to + suffix, replacedBy + suffix);
    }
    await rename(restoring, to);
    await syncDir(dir);
    return { outbox: to, replacedBy, forced, ...report };
  } catch (err) {
    await unlink(restoring).catch(() => undefined);
    throw err;
  }
}

/** As root, give `file` the owner and group of `like`; otherwise (or on failure) leave it ours. */
function giveOwnerOf(like: string, file: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  const { uid, gid } = statSync(like);
  chownSync(file, uid, gid);
}
