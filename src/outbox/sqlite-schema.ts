/**
 * The SQLite outbox schema and its migrations. The schema version lives in `PRAGMA user_version`;
 * every open runs the steps the file has not had yet, so an older outbox keeps working after an upgrade.
 * To change the schema, append one step to `MIGRATIONS` — never edit a step that has shipped, because
 * files in the field have already run it.
 */
import type { DatabaseSync } from 'node:sqlite';
import { OutboxVersionError } from './outbox-version-error.ts';

/** One schema step: brings a file from version `index` to `index + 1`. Runs inside a write transaction. */
type Migration = (db: DatabaseSync) => void;

/** The name of the single outbox table. */
export const OUTBOX_TABLE = 'outbox';

// Version 1. There is deliberately no column for the API key: the key lives only in the process
// environment, so a copied or leaked outbox file never carries it.
const createVersion1: Migration = (db) => {
  db.exec(`
    CREATE TABLE ${OUTBOX_TABLE} (
      call_id            TEXT    NOT NULL PRIMARY KEY,
      payload            TEXT    NOT NULL CHECK (json_valid(payload)),
      source_file        TEXT,
      state              TEXT    NOT NULL CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead')),
      attempts           INTEGER NOT NULL DEFAULT 0,
      rate_limit_waits   INTEGER NOT NULL DEFAULT 0,
      next_attempt_at    INTEGER NOT NULL,
      lease_owner        TEXT,
      lease_until        INTEGER,
      last_status        INTEGER,
      last_error         TEXT,
      recording_path     TEXT,
      recording_url      TEXT,
      recording_size     INTEGER,
      recording_duration REAL,
      recording_note     TEXT,
      created_at         INTEGER NOT NULL,
      updated_at         INTEGER NOT NULL,
      delivered_at       INTEGER
    ) STRICT;
    -- The lease query walks pending items in due order; the rowid (implicit in every index entry)
    -- breaks ties in insertion order without a sort.
    CREATE INDEX ${OUTBOX_TABLE}_due ON ${OUTBOX_TABLE} (state, next_attempt_at);
    -- Only leased items carry lease_until, so the partial index stays as small as the in-flight set.
    CREATE INDEX ${OUTBOX_TABLE}_lease ON ${OUTBOX_TABLE} (lease_until) WHERE lease_until IS NOT NULL;
    -- list() pages through one state oldest first (dead-letter list, reconcile) without sorting it all.
    CREATE INDEX ${OUTBOX_TABLE}_state_created ON ${OUTBOX_TABLE} (state, created_at);
  `);
};

/** The name of the attempt history table (one row per request of an attempt). */
export const ATTEMPTS_TABLE = 'attempts';

// Version 2: the per-call timeline (dashboard, `history`) and the call's start time, so that reconcile
// can page through delivered calls by the time the CRM filters on.
const addHistoryAndCallStart: Migration = (db) => {
  db.exec(`
    CREATE TABLE ${ATTEMPTS_TABLE} (
      seq         INTEGER PRIMARY KEY,
      call_id     TEXT    NOT NULL,
      at          INTEGER NOT NULL,
      step        TEXT    NOT NULL CHECK (step IN ('recording', 'call-data')),
      attempt     INTEGER NOT NULL,
      status      INTEGER,
      duration_ms REAL    NOT NULL,
      outcome     TEXT    NOT NULL,
      error       TEXT
    ) STRICT;
    CREATE INDEX ${ATTEMPTS_TABLE}_call ON ${ATTEMPTS_TABLE} (call_id, seq);
    ALTER TABLE ${OUTBOX_TABLE} ADD COLUMN call_start INTEGER;
    UPDATE ${OUTBOX_TABLE}
      SET call_start = CAST(round((julianday(json_extract(payload, '$.callDetails.startTime')) - 2440587.5) * 86400000) AS INTEGER);
    CREATE INDEX ${OUTBOX_TABLE}_delivered_start ON ${OUTBOX_TABLE} (call_start) WHERE state = 'delivered';
  `);
};

// Version 3: delivered calls by the time they were delivered (the dashboard's last hour, listDeliveredByTime).
// Partial, as the call-start index: only delivered rows, ordered by delivery time then callId, and covering
// (created_at too), so the read never touches the table.
const addDeliveredAtIndex: Migration = (db) => {
  db.exec(`CREATE INDEX ${OUTBOX_TABLE}_delivered_at ON ${OUTBOX_TABLE} (delivered_at, call_id, created_at) WHERE state = 'delivered';`);
};

// Version 4: uncertain attempts (docs/architecture.md, "Delivery" → "Uncertain attempts"). The item's flag,
// and the history's, with the listing asked before re-sending as a step of its own: the history table is
// rebuilt for its CHECK (SQLite cannot alter one), keeping every row and its seq.
const addUncertainty: Migration = (db) => {
  db.exec(`
    ALTER TABLE ${OUTBOX_TABLE} ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0 CHECK (uncertain IN (0, 1));
    CREATE TABLE ${ATTEMPTS_TABLE}_v4 (
      seq         INTEGER PRIMARY KEY,
      call_id     TEXT    NOT NULL,
      at          INTEGER NOT NULL,
      step        TEXT    NOT NULL CHECK (step IN ('recording', 'call-data', 'verify')),
      attempt     INTEGER NOT NULL,
      status      INTEGER,
      duration_ms REAL    NOT NULL,
      outcome     TEXT    NOT NULL,
      error       TEXT,
      uncertain   INTEGER
    ) STRICT;
    INSERT INTO ${ATTEMPTS_TABLE}_v4 (seq, call_id, at, step, attempt, status, duration_ms, outcome, error)
      SELECT seq, call_id, at, step, attempt, status, duration_ms, outcome, error FROM ${ATTEMPTS_TABLE};
    DROP TABLE ${ATTEMPTS_TABLE};
    ALTER TABLE ${ATTEMPTS_TABLE}_v4 RENAME TO ${ATTEMPTS_TABLE};
    CREATE INDEX ${ATTEMPTS_TABLE}_call ON ${ATTEMPTS_TABLE} (call_id, seq);
  `);
};

const MIGRATIONS: readonly Migration[] = [createVersion1, addHistoryAndCallStart, addDeliveredAtIndex, addUncertainty];

/** The schema version this code writes and expects (`PRAGMA user_version`). */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** The file's schema version. */
export function readSchemaVersion(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get();
  const version = row?.user_version;
  return typeof version === 'number' ? version : 0;
}

/**
 * Bring the file up to `SCHEMA_VERSION`, every missing step in one transaction; a file newer than this
 * code is refused with an `OutboxVersionError` (never read with the wrong schema). Safe when several
 * processes open a fresh file at once: the version is read again under the write lock, so only the
 * first one runs each step.
 */
export function migrate(db: DatabaseSync, file: string): void {
  // The common case (already current) must not take the write lock on every open.
  const seen = readSchemaVersion(db);
  if (seen === SCHEMA_VERSION) return;
  // Refused before the lock too, so that a newer file is never written to, not even to be rolled back.
  if (seen > SCHEMA_VERSION) throw new OutboxVersionError(file, seen, SCHEMA_VERSION);
  db.exec('BEGIN IMMEDIATE');
  try {
    const current = readSchemaVersion(db);
    if (current > SCHEMA_VERSION) throw new OutboxVersionError(file, current, SCHEMA_VERSION);
    // Every step and the new version commit together: a crash or an error midway leaves the file at
    // its old version, whole, for the old code or the next attempt.
    for (const step of MIGRATIONS.slice(current)) step(db);
    // user_version lives in the database header, so it commits (or rolls back) with the steps.
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
