/**
 * `crm-upload backup FILE` for the SQLite outbox (README, "Backups"): a consistent copy of a live
 * outbox, safe while a worker delivers, with SQLite's online backup (`node:sqlite`'s `backup()`).
 *
 * The copy is taken in one step (every page in one `sqlite3_backup_step`), so it is one read
 * transaction: in WAL mode that never blocks the worker's commits, and it is a snapshot of one
 * instant — every call is in the state it had at that commit, never half-settled. (A backup in several
 * steps would restart whenever another connection writes between two steps, which a busy worker does
 * all the time.) The copy is written beside its destination as `.partial`, switched to a single-file
 * journal (no -wal to carry along), checked with `integrity_check`, synced and renamed into place, so
 * a crash never leaves half a backup under the final name. The file is 0600: it holds callers' data.
 */
import { existsSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as sqlite from 'node:sqlite';
import { DatabaseSync } from 'node:sqlite';
import { ConfigError } from '../errors.ts';
import { syncDir } from '../fs/durable.ts';
import { createPrivateFileSync } from '../fs/private-files.ts';
import { OutboxVersionError } from './outbox-version-error.ts';
import { checkOutboxFile, type OutboxFileReport } from './sqlite-file-check.ts';
import { readSchemaVersion, SCHEMA_VERSION } from './sqlite-schema.ts';

/** The code of a backup that would overwrite an existing file. */
export const E_BACKUP_EXISTS = 'E_BACKUP_EXISTS';
/** The code of a backup of an outbox file that does not exist. */
export const E_OUTBOX_MISSING = 'E_OUTBOX_MISSING';

// As many pages as a file can have: the whole copy in one step, hence one read transaction.
const ALL_PAGES = 2 ** 31 - 1;

/**
 * `node:sqlite`'s `backup()`, looked up when needed rather than imported by name: it came after the
 * module itself (Node 22.16 / 23.8), and a named import missing on an older Node would stop every
 * command from loading, not only this one.
 */
function onlineBackup(): typeof sqlite.backup {
  const fn = (sqlite as Partial<typeof sqlite>).backup;
  if (typeof fn !== 'function') {
    throw new ConfigError(`this Node.js (${process.versions.node}) has no SQLite online backup (node:sqlite backup()); run crm-upload backup with Node 22.16 or newer`);
  }
  return fn;
}

/** What a backup wrote. */
export interface BackupResult extends OutboxFileReport {
  /** The backup's absolute path. */
  file: string;
  /** Pages copied. */
  pages: number;
}

/**
 * Copy the live outbox at `source` to `dest` (which must not exist). Throws a ConfigError when the
 * outbox is missing or `dest` exists, an `OutboxVersionError` for an outbox newer than this code.
 */
export async function backupSqliteOutbox(source: string, dest: string): Promise<BackupResult> {
  const from = resolve(source);
  const to = resolve(dest);
  if (!existsSync(from)) throw new ConfigError(`no outbox at ${from}: nothing to back up`, { code: E_OUTBOX_MISSING, file: from, variable: 'CRM_OUTBOX' });
  if (existsSync(to)) throw new ConfigError(`${to} exists: a backup never overwrites a file; choose a new name`, { code: E_BACKUP_EXISTS, file: to });
  const partial = `${to}.partial`;
  // Our own connection, never written through: it only reads the pages (and may wait out a commit).
  const db = new DatabaseSync(from, { timeout: 5_000 });
  let pages: number;
  try {
    const version = readSchemaVersion(db);
    if (version > SCHEMA_VERSION) throw new OutboxVersionError(from, version, SCHEMA_VERSION);
    // Created 0600 first: SQLite then writes into it and keeps the mode.
    createPrivateFileSync(partial);
    pages = await onlineBackup()(db, partial, { rate: ALL_PAGES });
  } catch (err) {
    await unlink(partial).catch(() => undefined);
    throw err;
  } finally {
    db.close();
  }
  try {
    const copy = new DatabaseSync(partial, { timeout: 5_000 });
    try {
      // The copy carries the source's WAL flag; as a file at rest it is one self-contained file.
      copy.exec('PRAGMA journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const report = checkOutboxFile(partial);
    const handle = await open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, to);
    await syncDir(dirname(to));
    return { file: to, pages, ...report };
  } catch (err) {
    await unlink(partial).catch(() => undefined);
    throw err;
  }
}
