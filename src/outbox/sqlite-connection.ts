/**
 * One synchronous connection to a SQLite outbox file: the connection settings, the migration, the
 * prepared statements and every operation as a plain synchronous method on plain data. `SqliteOutboxStore`
 * (the `OutboxStore`) runs it on the main thread for reads and, once a worker delivers, on its writer
 * thread for writes (`sqlite-writer-thread.ts`); nothing here knows which thread it is on.
 *
 * Every write transaction is `BEGIN IMMEDIATE`, so that contention with another process surfaces at its
 * start, where the busy timeout waits it out; every lease and settle is guarded so that two owners never
 * hold one item. The API key is never stored: no column holds it.
 */
import { preparePrivateSqliteFiles } from '../fs/private-files.ts';
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { ConfigError, CrmUploadError } from '../errors.ts';
import { failPoint } from '../failpoints/failpoints.ts';
import type { AttemptLogEntry, EnqueueResult, OutboxState, PurgeOptions, PurgeResult, RecordingCheckpoint, Settlement } from './outbox-store.ts';
import { ATTEMPTS_TABLE as A, migrate, OUTBOX_TABLE as T, readSchemaVersion } from './sqlite-schema.ts';

/** The connection methods that write (and run on the writer thread once it is up). */
export type WriteOp = 'enqueue' | 'settleAndLease' | 'release' | 'checkpointRecording' | 'replay' | 'requeue' | 'purge';

/** A row as `node:sqlite` returns it. */
export type Row = Record<string, SQLOutputValue>;

/** An item to insert, its payload already serialised (so that it crosses to the writer thread as text). */
export interface InsertRow {
  callId: string;
  payload: string;
  sourceFile: string | null;
  recordingPath: string | null;
  /** The call's start (epoch ms), for `listDelivered`; null when the payload's time does not parse. */
  callStart: number | null;
}

/** The bound parameters of a lease (`callIds` restricts it). */
export interface LeaseParams {
  owner: string;
  now: number;
  until: number;
  limit: number;
  callIds: readonly string[] | undefined;
}

/** Which recording fields a checkpoint sets; an absent field is left as it is. */
export type CheckpointFields = Partial<Omit<RecordingCheckpoint, 'path'>>;

/** The connection settings actually in force, for `status` diagnostics and tests. */
export interface SqlitePragmas {
  journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  synchronous: number;
  busyTimeoutMs: number;
  foreignKeys: boolean;
  schemaVersion: number;
}

/** The known states, for checking what the file holds. */
export const STATES: ReadonlySet<string> = new Set<OutboxState>(['pending', 'in_flight', 'delivered', 'dead']);

/** The synchronous connection. `path` must be absolute; it is opened (and migrated) at construction. */
export class SqliteOutboxConnection {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;

  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;
  readonly #insert: StatementSync;
  readonly #stateOf: StatementSync;
  readonly #get: StatementSync;
  readonly #leaseAny: StatementSync;
  readonly #leaseSome: StatementSync;
  readonly #settleRetry: StatementSync;
  readonly #settleWait: StatementSync;
  readonly #settleDead: StatementSync;
  readonly #settleDelivered: StatementSync;
  readonly #release: StatementSync;
  readonly #checkpoint: StatementSync;
  readonly #states: StatementSync;
  readonly #counts: StatementSync;
  readonly #nextDue: StatementSync;
  readonly #nextDueSome: StatementSync;
  readonly #list: StatementSync;
  readonly #replayAll: StatementSync;
  readonly #replaySome: StatementSync;
  readonly #requeue: StatementSync;
  readonly #logAttempt: StatementSync;
  readonly #history: StatementSync;
  readonly #delivered: StatementSync;
  readonly #deliveredByTime: StatementSync;
  readonly #purgeDelivered: StatementSync;
  readonly #purgeDead: StatementSync;
  readonly #purgeHistory: StatementSync;
  readonly #countDelivered: StatementSync;
  readonly #countDead: StatementSync;

  constructor(path: string, busyTimeoutMs: number) {
    this.path = path;
    this.#busyTimeoutMs = busyTimeoutMs;
    const busy = busyTimeoutMs;
    let db: DatabaseSync | undefined;
    try {
      // Callers' data: 0700 folder, 0600 files (and -wal/-shm), whatever the umask (docs/architecture.md, "Security").
      preparePrivateSqliteFiles(this.path);
      // The timeout is given to the constructor so that it already covers the PRAGMAs and the
      // migration below, which contend with other processes opening the same fresh file.
      db = new DatabaseSync(this.path, { timeout: busy, enableForeignKeyConstraints: true });
      const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
      if (mode !== 'wal') {
        // SQLite silently keeps the old mode where WAL is impossible (e.g. network file systems), and
        // several processes sharing the file then misbehave; better to say so at once.
        throw new Error(`cannot switch to WAL journal mode (got ${String(mode)}); is it on a network file system?`);
      }
      // Every commit is on disk when it returns: an enqueue that has returned survives a power cut.
      db.exec('PRAGMA synchronous = FULL');
      db.exec(`PRAGMA busy_timeout = ${busy}`);
      db.exec('PRAGMA foreign_keys = ON');
      // A purged transcript must not stay readable in the file: deleted content (rows, freed pages) is
      // overwritten with zeros, and a purge then checkpoints and truncates the WAL (docs/architecture.md,
      // "Stores" → "Retention"). Per connection, so the writer thread's connection gets it too.
      db.exec('PRAGMA secure_delete = ON');
      migrate(db, this.path);
    } catch (err) {
      db?.close();
      if (err instanceof CrmUploadError) throw err;
      throw new ConfigError(`cannot open the outbox ${this.path}: ${(err as Error).message}`, { file: this.path, variable: 'CRM_OUTBOX', cause: err });
    }
    this.#db = db;

    const prep = (sql: string): StatementSync => db.prepare(sql);
    this.#begin = prep('BEGIN IMMEDIATE');
    this.#commit = prep('COMMIT');
    this.#rollback = prep('ROLLBACK');
    this.#insert = prep(`
      INSERT INTO ${T} (call_id, payload, source_file, state, next_attempt_at, recording_path, call_start, created_at, updated_at)
      VALUES (:id, :payload, :source, 'pending', :now, :recording, :start, :now, :now)
      ON CONFLICT (call_id) DO NOTHING`);
    this.#stateOf = prep(`SELECT state FROM ${T} WHERE call_id = ?`);
    this.#get = prep(`SELECT * FROM ${T} WHERE call_id = ?`);

    // Due = pending and due, or in_flight with an expired lease (a crashed worker's item). The pending
    // half walks the due index and stops at `limit`, so a large backlog is never sorted whole; the
    // expired half is pinned to the lease index, which only ever holds the (small) in-flight set, so
    // live leases are not scanned either.
    // An item taken over from an expired lease (the old state is read on the right) may have been sent by
    // its holder: uncertain (docs/architecture.md, "Delivery" → "Uncertain attempts").
    const leaseSet = `SET state = 'in_flight', lease_owner = :owner, lease_until = :until, updated_at = :now,
      uncertain = CASE WHEN state = 'in_flight' THEN 1 ELSE uncertain END`;
    const returning = `RETURNING *, rowid AS rid`;
    this.#leaseAny = prep(`
      UPDATE ${T} ${leaseSet}
      WHERE call_id IN (
        SELECT call_id FROM (
          SELECT * FROM (SELECT call_id, next_attempt_at, rowid AS rid FROM ${T}
                         WHERE state = 'pending' AND next_attempt_at <= :now
                         ORDER BY next_attempt_at, rowid LIMIT :limit)
          UNION ALL
          SELECT * FROM (SELECT call_id, next_attempt_at, rowid AS rid FROM ${T} INDEXED BY ${T}_lease
                         WHERE state = 'in_flight' AND lease_until <= :now
                         ORDER BY next_attempt_at, rowid LIMIT :limit)
        ) ORDER BY next_attempt_at, rid LIMIT :limit)
      ${returning}`);
    this.#leaseSome = prep(`
      UPDATE ${T} ${leaseSet}
      WHERE call_id IN (
        SELECT o.call_id FROM ${T} AS o JOIN (SELECT DISTINCT value FROM json_each(:ids)) AS j ON o.call_id = j.value
        WHERE (o.state = 'pending' AND o.next_attempt_at <= :now)
           OR (o.state = 'in_flight' AND o.lease_until <= :now)
        ORDER BY o.next_attempt_at, o.rowid LIMIT :limit)
      ${returning}`);

    // Only the current lease holder may record a failure: a worker whose lease expired and was taken
    // over must not overwrite the new owner's state.
    const owned = `WHERE call_id = :id AND state = 'in_flight' AND lease_owner = :owner`;
    const unlease = `lease_owner = NULL, lease_until = NULL, updated_at = :now`;
    this.#settleRetry = prep(`
      UPDATE ${T} SET state = 'pending', attempts = attempts + 1, next_attempt_at = :next,
        last_status = :status, last_error = :error, uncertain = coalesce(:uncertain, uncertain), ${unlease} ${owned}`);
    this.#settleWait = prep(`
      UPDATE ${T} SET state = 'pending', rate_limit_waits = rate_limit_waits + 1, next_attempt_at = :next,
        last_status = :status, last_error = :error, uncertain = coalesce(:uncertain, uncertain), ${unlease} ${owned}`);
    this.#settleDead = prep(`
      UPDATE ${T} SET state = 'dead', attempts = attempts + :inc,
        last_status = :status, last_error = :error, uncertain = coalesce(:uncertain, uncertain), ${unlease} ${owned}`);
    // A delivered outcome is a fact about the CRM, whoever reports it: a worker whose lease expired but
    // whose POST got a 2xx really delivered the call, and the new owner's re-send carries the same
    // Idempotency-Key. So it applies to any item not yet final; a final item (delivered or dead) is
    // never changed by a settle.
    this.#settleDelivered = prep(`
      UPDATE ${T} SET state = 'delivered', attempts = attempts + 1, delivered_at = :now,
        last_status = :status, last_error = NULL, uncertain = 0, ${unlease}
      WHERE call_id = :id AND state IN ('pending', 'in_flight')`);
    // MIN keeps a released item's place in the due order while making sure it is due now.
    this.#release = prep(`
      UPDATE ${T} SET state = 'pending', next_attempt_at = MIN(next_attempt_at, :now), ${unlease},
        uncertain = CASE WHEN call_id IN (SELECT value FROM json_each(:uncertain)) THEN 1 ELSE uncertain END
      WHERE call_id IN (SELECT value FROM json_each(:ids)) AND state = 'in_flight' AND lease_owner = :owner`);
    this.#checkpoint = prep(`
      UPDATE ${T} SET
        recording_url      = CASE WHEN :setUrl      THEN :url      ELSE recording_url END,
        recording_size     = CASE WHEN :setSize     THEN :size     ELSE recording_size END,
        recording_duration = CASE WHEN :setDuration THEN :duration ELSE recording_duration END,
        recording_note     = CASE WHEN :setNote     THEN :note     ELSE recording_note END,
        updated_at = :now
      WHERE call_id = :id`);
    this.#states = prep(`SELECT call_id, state FROM ${T} WHERE call_id IN (SELECT value FROM json_each(?))`);
    // When the next item becomes leasable: the earliest pending due time or lease expiry. Only in-flight
    // rows carry lease_until (every path that ends a lease clears it), so the second min() reads the
    // first entry of the small partial lease index, and the first one the first pending entry of the
    // due index: both cost the same however many delivered items the file has piled up.
    const nextDue = `
      SELECT min(next) AS next FROM (
        SELECT min(next_attempt_at) AS next FROM ${T} WHERE state = 'pending'
        UNION ALL
        SELECT min(lease_until) FROM ${T} WHERE lease_until IS NOT NULL)`;
    this.#nextDue = prep(nextDue);
    this.#nextDueSome = prep(`
      SELECT min(CASE o.state WHEN 'pending' THEN o.next_attempt_at ELSE o.lease_until END) AS next
      FROM ${T} AS o JOIN (SELECT DISTINCT value FROM json_each(?)) AS j ON o.call_id = j.value
      WHERE o.state IN ('pending', 'in_flight')`);
    // One statement, so the counts, the next due time and the backlog's age come from the same snapshot.
    // The oldest item that is not final: two seeks into the (state, created_at) index.
    this.#counts = prep(`
      SELECT state, count(*) AS n, NULL AS next FROM ${T} GROUP BY state
      UNION ALL
      SELECT 'next', 0, next FROM (${nextDue})
      UNION ALL
      SELECT 'oldest', 0, min(t) FROM (
        SELECT min(created_at) AS t FROM ${T} WHERE state = 'pending'
        UNION ALL
        SELECT min(created_at) FROM ${T} WHERE state = 'in_flight')`);
    this.#list = prep(`SELECT * FROM ${T} WHERE state = ? ORDER BY created_at, rowid LIMIT ? OFFSET ?`);
    const replaySet = `SET state = 'pending', attempts = 0, rate_limit_waits = 0, next_attempt_at = :now, ${unlease}`;
    this.#replayAll = prep(`UPDATE ${T} ${replaySet} WHERE state = 'dead'`);
    this.#replaySome = prep(`UPDATE ${T} ${replaySet} WHERE state = 'dead' AND call_id IN (SELECT value FROM json_each(:ids))`);
    this.#requeue = prep(`UPDATE ${T} ${replaySet}, delivered_at = NULL WHERE state = 'delivered' AND call_id IN (SELECT value FROM json_each(:ids))`);
    this.#logAttempt = prep(`
      INSERT INTO ${A} (call_id, at, step, attempt, status, duration_ms, outcome, error, uncertain)
      VALUES (:id, :at, :step, :attempt, :status, :duration, :outcome, :error, :uncertain)`);
    this.#history = prep(`SELECT * FROM ${A} WHERE call_id = ? ORDER BY seq`);
    // Walks the partial index of delivered items by call start (every contract-valid payload has one).
    this.#delivered = prep(`
      SELECT * FROM ${T} INDEXED BY ${T}_delivered_start
      WHERE state = 'delivered' AND call_start >= :from AND call_start <= :to
      ORDER BY call_start, rowid LIMIT :limit OFFSET :offset`);
    // Walks the covering partial index of delivered items by delivery time (schema version 3).
    this.#deliveredByTime = prep(`
      SELECT call_id, created_at, delivered_at FROM ${T} INDEXED BY ${T}_delivered_at
      WHERE state = 'delivered' AND delivered_at >= :from AND delivered_at <= :to
      ORDER BY delivered_at, call_id LIMIT :limit OFFSET :offset`);
    // Retention (docs/architecture.md, "Stores" → "Retention"): the oldest deliveries first, through the
    // delivered_at index, so a batch costs its own rows, not the outbox's history.
    const oldDelivered = `SELECT call_id FROM ${T} INDEXED BY ${T}_delivered_at
      WHERE state = 'delivered' AND delivered_at < :before ORDER BY delivered_at, call_id LIMIT :limit`;
    const oldDead = `SELECT call_id FROM ${T} INDEXED BY ${T}_state_created WHERE state = 'dead' ORDER BY created_at LIMIT :limit`;
    this.#purgeDelivered = prep(`DELETE FROM ${T} WHERE call_id IN (${oldDelivered}) RETURNING call_id, recording_path`);
    this.#purgeDead = prep(`DELETE FROM ${T} WHERE call_id IN (${oldDead}) RETURNING call_id, recording_path`);
    this.#purgeHistory = prep(`DELETE FROM ${A} WHERE call_id IN (SELECT value FROM json_each(?))`);
    this.#countDelivered = prep(`SELECT count(*) AS n FROM (${oldDelivered})`);
    this.#countDead = prep(`SELECT count(*) AS n FROM (${oldDead})`);
  }

  /**
   * Remove final items (`OutboxStore.purge`): delivered ones delivered before `deliveredBefore`, oldest
   * delivery first, and with `dead` dead ones, oldest first, at most `limit` of each, with their history, in
   * one transaction. Then, when anything went, the WAL is checkpointed and truncated, so that the frames that
   * held the removed rows are gone from the `-wal` too (secure_delete zeroed them in the pages).
   */
  purge(options: PurgeOptions): PurgeResult {
    const limit = options.limit ?? -1;
    const before = options.deliveredBefore;
    if (options.dryRun === true) {
      return {
        delivered: before === undefined ? 0 : Number(this.#countDelivered.get({ before, limit })?.n ?? 0),
        dead: options.dead === true ? Number(this.#countDead.get({ limit })?.n ?? 0) : 0,
        recordingPaths: [],
      };
    }
    const removed = this.#transaction(() => {
      const delivered = before === undefined ? [] : this.#purgeDelivered.all({ before, limit });
      const dead = options.dead === true ? this.#purgeDead.all({ limit }) : [];
      const ids = [...delivered, ...dead].map((r) => r.call_id);
      if (ids.length > 0) this.#purgeHistory.run(JSON.stringify(ids));
      return { delivered, dead };
    });
    const paths = new Set<string>();
    for (const r of [...removed.delivered, ...removed.dead]) if (typeof r.recording_path === 'string') paths.add(r.recording_path);
    if (removed.delivered.length + removed.dead.length > 0) this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return { delivered: removed.delivered.length, dead: removed.dead.length, recordingPaths: [...paths] };
  }

  /** Insert items (one transaction when several); an existing callId is left exactly as it is. */
  enqueue(rows: readonly InsertRow[], now: number): EnqueueResult[] {
    // A single INSERT in autocommit mode is its own transaction: with synchronous=FULL it is on disk
    // when run() returns, with one commit instead of the three statements of an explicit transaction.
    if (rows.length === 1) return [this.#enqueueOne(rows[0] as InsertRow, now)];
    return this.#transaction(() => rows.map((row) => this.#enqueueOne(row, now)));
  }

  /** Lease (`params` null: nothing) after applying `settlements`, in one transaction; the leased rows. */
  settleAndLease(owner: string, settlements: readonly Settlement[], now: number, params: LeaseParams | null): Row[] {
    if (settlements.length === 0 && params === null) return [];
    return this.#transaction(() => {
      this.#applySettlements(owner, settlements, now);
      if (settlements.length > 0) failPoint('mid-settle');
      if (params === null) return [];
      const { callIds, ...rest } = params;
      return callIds === undefined ? this.#leaseAny.all(rest) : this.#leaseSome.all({ ...rest, ids: JSON.stringify(callIds) });
    });
  }

  /** In-flight items of `owner` back to pending, due now; those in `uncertain` marked uncertain. */
  release(owner: string, callIds: readonly string[], now: number, uncertain: readonly string[] = []): void {
    if (callIds.length === 0) return;
    this.#transaction(() => this.#release.run({ owner, now, ids: JSON.stringify(callIds), uncertain: JSON.stringify(uncertain) }));
  }

  /** Store recording fields; how many items changed (0: unknown callId). */
  checkpointRecording(callId: string, fields: CheckpointFields, now: number): number {
    const flag = (key: keyof CheckpointFields): number => (fields[key] === undefined ? 0 : 1);
    const result = this.#checkpoint.run({
      id: callId,
      now,
      setUrl: flag('url'),
      url: fields.url ?? null,
      setSize: flag('size'),
      size: fields.size ?? null,
      setDuration: flag('duration'),
      duration: fields.duration ?? null,
      setNote: flag('note'),
      note: fields.note ?? null,
    });
    return Number(result.changes);
  }

  /** Dead items (all, or those listed) back to pending; how many moved. */
  replay(target: readonly string[] | 'all', now: number): number {
    if (target !== 'all' && target.length === 0) return 0;
    const result = this.#transaction(() =>
      target === 'all' ? this.#replayAll.run({ now }) : this.#replaySome.run({ now, ids: JSON.stringify(target) }),
    );
    return Number(result.changes);
  }

  /** Delivered items back to pending, due now; how many moved. */
  requeue(callIds: readonly string[], now: number): number {
    if (callIds.length === 0) return 0;
    return Number(this.#transaction(() => this.#requeue.run({ now, ids: JSON.stringify(callIds) })).changes);
  }

  /** The attempt log of one call, oldest first. */
  history(callId: string): Row[] {
    return this.#history.all(callId);
  }

  /** Delivered items whose call started in [from, to], earliest first. */
  delivered(from: number, to: number, limit: number, offset: number): Row[] {
    return this.#delivered.all({ from, to, limit, offset });
  }

  /** Delivered calls' times, delivered in [from, to], earliest delivery first. */
  deliveredByTime(from: number, to: number, limit: number, offset: number): { call_id: string; created_at: number; delivered_at: number }[] {
    return this.#deliveredByTime.all({ from, to, limit, offset }) as { call_id: string; created_at: number; delivered_at: number }[];
  }

  /** One item's row, or undefined. */
  get(callId: string): Row | undefined {
    return this.#get.get(callId);
  }

  /** `call_id` and `state` of the listed items that exist (a long list is best given in slices). */
  states(callIds: readonly string[]): Row[] {
    return this.#states.all(JSON.stringify(callIds));
  }

  /** Rows of (state, n) per state, plus ('next', 0, next due time). */
  counts(): Row[] {
    return this.#counts.all();
  }

  /** The earliest pending due time or lease expiry (of `callIds` when given), or null. */
  nextDueAt(callIds?: readonly string[]): number | null {
    const row = callIds === undefined ? this.#nextDue.get() : this.#nextDueSome.get(JSON.stringify(callIds));
    const v = row?.next;
    return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null;
  }

  /** Items in a state, oldest first (SQLite reads a negative limit as "no limit"). */
  list(state: OutboxState, limit: number, offset: number): Row[] {
    return this.#list.all(state, limit, offset);
  }

  /** The pragmas in force on this connection, read back from SQLite rather than assumed. */
  pragmas(): SqlitePragmas {
    const one = (name: string): SQLOutputValue | undefined => this.#db.prepare(`PRAGMA ${name}`).get()?.[name];
    return {
      journalMode: String(one('journal_mode')),
      synchronous: Number(one('synchronous')),
      busyTimeoutMs: Number(this.#db.prepare('PRAGMA busy_timeout').get()?.timeout ?? this.#busyTimeoutMs),
      foreignKeys: Number(one('foreign_keys')) === 1,
      schemaVersion: readSchemaVersion(this.#db),
    };
  }

  close(): void {
    this.#db.close();
  }

  #enqueueOne(row: InsertRow, now: number): EnqueueResult {
    const params: Record<string, SQLInputValue> = {
      id: row.callId,
      payload: row.payload,
      source: row.sourceFile,
      recording: row.recordingPath,
      start: row.callStart,
      now,
    };
    if (Number(this.#insert.run(params).changes) === 1) return { callId: row.callId, enqueued: true, state: 'pending' };
    const existing = this.#stateOf.get(row.callId);
    // Only a purge deletes, and only final items, inside a write transaction: a conflict without a row
    // would be a corrupt file.
    if (existing === undefined) throw new Error(`outbox item ${row.callId} conflicted on insert but cannot be read`);
    const state = existing.state;
    if (typeof state !== 'string' || !STATES.has(state)) throw new Error(`outbox row has unknown state ${String(state)}`);
    return { callId: row.callId, enqueued: false, state: state as OutboxState };
  }

  /** Apply settlements with the guards `OutboxStore.settle` documents; the caller holds the transaction. */
  #applySettlements(owner: string, settlements: readonly Settlement[], now: number): void {
    for (const s of settlements) {
      const base = { id: s.callId, owner, now, status: s.status, uncertain: s.uncertain === undefined ? null : s.uncertain ? 1 : 0 };
      let changed: number | bigint;
      switch (s.kind) {
        case 'delivered':
          changed = this.#settleDelivered.run({ id: s.callId, now, status: s.status }).changes;
          break;
        case 'retry':
          changed = this.#settleRetry.run({ ...base, next: s.nextAttemptAt, error: s.error }).changes;
          break;
        case 'wait':
          changed = this.#settleWait.run({ ...base, next: s.nextAttemptAt, error: s.error }).changes;
          break;
        case 'dead':
          changed = this.#settleDead.run({ ...base, error: s.error, inc: s.countAttempt ? 1 : 0 }).changes;
          break;
        default:
          throw new TypeError(`unknown settlement ${JSON.stringify(s satisfies never)}`);
      }
      // A refused settlement (a stale owner's failure) is not part of the item's story either.
      if (Number(changed) === 1 && s.log !== undefined) for (const entry of s.log) this.#logAttempt.run(logRow(s.callId, entry));
    }
  }

  #transaction<R>(work: () => R): R {
    this.#begin.run();
    try {
      const result = work();
      this.#commit.run();
      return result;
    } catch (err) {
      // SQLite may already have rolled back on its own (e.g. SQLITE_FULL); a second ROLLBACK would throw
      // and hide the real error.
      if (this.#db.isTransaction) this.#rollback.run();
      throw err;
    }
  }
}

/** The bound parameters of one history row. */
function logRow(callId: string, e: AttemptLogEntry): Record<string, SQLInputValue> {
  return {
    id: callId,
    at: e.at,
    step: e.step,
    attempt: e.attempt,
    status: e.status,
    duration: e.durationMs,
    outcome: e.outcome,
    error: e.error,
    uncertain: e.uncertain === undefined ? null : e.uncertain ? 1 : 0,
  };
}
