/**
 * What a SQLite outbox file holds, checked before a backup is kept or restored (README, "Backups"):
 * SQLite's own `PRAGMA integrity_check`, a schema version this code knows, the outbox table, and the
 * calls per state. Opened read-only: checking a file never changes it (no migration, no WAL switch).
 */
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { InputError } from '../errors.ts';
import type { OutboxState } from './outbox-store.ts';
import { OutboxVersionError } from './outbox-version-error.ts';
import { OUTBOX_TABLE, readSchemaVersion, SCHEMA_VERSION } from './sqlite-schema.ts';

/** The code of a file that is not a sound outbox. */
export const E_OUTBOX_FILE_INVALID = 'E_OUTBOX_FILE_INVALID';

/** What a sound outbox file holds. */
export interface OutboxFileReport {
  /** Its `PRAGMA user_version` (1 … `SCHEMA_VERSION`; an older one is migrated when next opened). */
  schemaVersion: number;
  /** Calls per state. */
  counts: Record<OutboxState, number>;
  /** Size of the database file in bytes (pages × page size). */
  bytes: number;
}

/** Count rows per state from `SELECT state, count(*)` rows. */
function countsOf(rows: readonly Record<string, unknown>[]): Record<OutboxState, number> {
  const counts: Record<OutboxState, number> = { pending: 0, in_flight: 0, delivered: 0, dead: 0 };
  for (const row of rows) {
    const state = row.state;
    if (typeof state === 'string' && state in counts) counts[state as OutboxState] = Number(row.n);
  }
  return counts;
}

/**
 * Check the outbox file at `path` without changing it. Throws an `InputError` (E_OUTBOX_FILE_INVALID)
 * when it is missing, not SQLite, damaged or not an outbox, and an `OutboxVersionError` when it was
 * written by a newer crm-upload.
 */
export function checkOutboxFile(path: string): OutboxFileReport {
  const invalid = (why: string, cause?: unknown): InputError =>
    new InputError(`${path} is not a sound outbox: ${why}`, { code: E_OUTBOX_FILE_INVALID, file: path, ...(cause === undefined ? {} : { cause }) });
  if (!existsSync(path)) throw invalid('no such file');
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true, timeout: 5_000 });
  } catch (err) {
    throw invalid((err as Error).message, err);
  }
  try {
    let version: number;
    try {
      version = readSchemaVersion(db);
    } catch (err) {
      throw invalid((err as Error).message, err);
    }
    if (version > SCHEMA_VERSION) throw new OutboxVersionError(path, version, SCHEMA_VERSION);
    // integrity_check reads every page: a torn copy or a damaged disk shows here, not mid-delivery.
    const problems = db.prepare('PRAGMA integrity_check').all().map((r) => String(r.integrity_check));
    if (problems.length !== 1 || problems[0] !== 'ok') throw invalid(`integrity_check: ${problems.slice(0, 5).join('; ')}`);
    const table = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?").get(OUTBOX_TABLE);
    if (version < 1 || Number(table?.n) !== 1) throw invalid(`no ${OUTBOX_TABLE} table of a known schema (user_version ${version})`);
    const counts = countsOf(db.prepare(`SELECT state, count(*) AS n FROM ${OUTBOX_TABLE} GROUP BY state`).all());
    const pages = Number(db.prepare('PRAGMA page_count').get()?.page_count);
    const pageSize = Number(db.prepare('PRAGMA page_size').get()?.page_size);
    return { schemaVersion: version, counts, bytes: pages * pageSize };
  } finally {
    db.close();
  }
}
