/**
 * The SQLite outbox (DESIGN.md, "Delivery" → "Outbox", "Throughput", "Durability") on the built-in
 * `node:sqlite`. One file can be shared by several processes (a logger enqueueing, a worker, a bulk run):
 * WAL lets readers and one writer proceed together, every write transaction is `BEGIN IMMEDIATE` so that
 * contention surfaces at its start where the busy timeout waits it out, and every lease/settle is guarded
 * so that two owners never hold one item.
 *
 * `node:sqlite` is synchronous: a call blocks the event loop for its commit (a fraction of a millisecond
 * with `synchronous=FULL` on a local disk) and, under contention, for up to the busy timeout. That is why
 * the worker leases and settles in batches.
 *
 * The API key is never stored: no column holds it and `NewOutboxItem` has no field for it.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { ConfigError, CrmUploadError, InputError } from '../errors.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import type {
  EnqueueResult,
  NewOutboxItem,
  OutboxCounts,
  OutboxItem,
  OutboxState,
  OutboxStore,
  RecordingCheckpoint,
  Settlement,
} from './outbox-store.ts';
import { migrate, OUTBOX_TABLE as T, readSchemaVersion } from './sqlite-schema.ts';

/** Options of `openSqliteOutbox`. */
export interface SqliteOutboxOptions {
  /**
   * How long a write waits for another process's transaction before failing (ms, default 5000). The
   * wait blocks this process's event loop, so keep it short; transactions here last milliseconds.
   */
  busyTimeoutMs?: number;
}

/** The connection settings actually in force, for `status` diagnostics and tests. */
export interface SqlitePragmas {
  journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  synchronous: number;
  busyTimeoutMs: number;
  foreignKeys: boolean;
  schemaVersion: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
// json_each() takes any number of ids, but very long JSON texts cost memory for nothing; states() of a
// whole bulk run reads in slices of this size.
const STATES_CHUNK = 500;

type Row = Record<string, SQLOutputValue>;

const STATES: ReadonlySet<string> = new Set<OutboxState>(['pending', 'in_flight', 'delivered', 'dead']);

/**
 * Open (creating when needed) the SQLite outbox at `path`, creating its folder and bringing its schema
 * up to date. Throws a ConfigError naming the file when it cannot be opened as an outbox.
 */
export function openSqliteOutbox(path: string, options: SqliteOutboxOptions = {}): SqliteOutboxStore {
  return new SqliteOutboxStore(path, options);
}

/** The `OutboxStore` on one SQLite file. Create it with `openSqliteOutbox`. */
export class SqliteOutboxStore implements OutboxStore {
  /** Absolute path of the database file. */
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  #closed = false;

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
  readonly #list: StatementSync;
  readonly #replayAll: StatementSync;
  readonly #replaySome: StatementSync;

  constructor(path: string, options: SqliteOutboxOptions = {}) {
    const busy = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    if (!Number.isInteger(busy) || busy < 0) {
      throw new ConfigError(`busyTimeoutMs must be a whole number of milliseconds ≥ 0, got ${busy}`);
    }
    if (path.trim() === '') throw new ConfigError('the outbox path is empty', { variable: 'CRM_OUTBOX' });
    this.path = resolve(path);
    this.#busyTimeoutMs = busy;

    let db: DatabaseSync | undefined;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      // The timeout is given to the constructor so that it already covers the PRAGMAs and the
      // migration below, which contend with other processes opening the same fresh file.
      db = new DatabaseSync(this.path, { timeout: busy, enableForeignKeyConstraints: true });
      const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
      if (mode !== 'wal') {
        // SQLite silently keeps the old mode where WAL is impossible (e.g. network file systems), and
        // several processes sharing the file then misbehave; better to say so at once.
        throw new Error(`cannot switch to WAL journal mode (got ${String(mode)}); is it on a network file system?`);
      }
      db.exec('PRAGMA synchronous = FULL');
      db.exec(`PRAGMA busy_timeout = ${busy}`);
      db.exec('PRAGMA foreign_keys = ON');
      migrate(db, this.path);
    } catch (err) {
      db?.close();
      if (err instanceof CrmUploadError) throw err;
      throw new ConfigError(`cannot open the outbox ${this.path}: ${(err as Error).message}`, {
        file: this.path,
        variable: 'CRM_OUTBOX',
      }, { cause: err });
    }
    this.#db = db;

    const prep = (sql: string): StatementSync => db.prepare(sql);
    this.#begin = prep('BEGIN IMMEDIATE');
    this.#commit = prep('COMMIT');
    this.#rollback = prep('ROLLBACK');
    this.#insert = prep(`
      INSERT INTO ${T} (call_id, payload, source_file, state, next_attempt_at, recording_path, created_at, updated_at)
      VALUES (:id, :payload, :source, 'pending', :now, :recording, :now, :now)
      ON CONFLICT (call_id) DO NOTHING`);
    this.#stateOf = prep(`SELECT state FROM ${T} WHERE call_id = ?`);
    this.#get = prep(`SELECT * FROM ${T} WHERE call_id = ?`);

    // Due = pending and due, or in_flight with an expired lease (a crashed worker's item). The pending
    // half walks the due index and stops at `limit`, so a large backlog is never sorted whole; the
    // expired half is pinned to the lease index, which only ever holds the (small) in-flight set, so
    // live leases are not scanned either.
    const leaseSet = `SET state = 'in_flight', lease_owner = :owner, lease_until = :until, updated_at = :now`;
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
        last_status = :status, last_error = :error, ${unlease} ${owned}`);
    this.#settleWait = prep(`
      UPDATE ${T} SET state = 'pending', rate_limit_waits = rate_limit_waits + 1, next_attempt_at = :next,
        last_status = :status, last_error = :error, ${unlease} ${owned}`);
    this.#settleDead = prep(`
      UPDATE ${T} SET state = 'dead', attempts = attempts + :inc,
        last_status = :status, last_error = :error, ${unlease} ${owned}`);
    // A delivered outcome is a fact about the CRM, whoever reports it: a worker whose lease expired but
    // whose POST got a 2xx really delivered the call, and the new owner's re-send carries the same
    // Idempotency-Key. So it applies to any item not yet final; a final item (delivered or dead) is
    // never changed by a settle.
    this.#settleDelivered = prep(`
      UPDATE ${T} SET state = 'delivered', attempts = attempts + 1, delivered_at = :now,
        last_status = :status, last_error = NULL, ${unlease}
      WHERE call_id = :id AND state IN ('pending', 'in_flight')`);
    // MIN keeps a released item's place in the due order while making sure it is due now.
    this.#release = prep(`
      UPDATE ${T} SET state = 'pending', next_attempt_at = MIN(next_attempt_at, :now), ${unlease}
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
    // One statement, so the counts and the next due time come from the same snapshot.
    this.#counts = prep(`
      SELECT state, count(*) AS n, NULL AS next FROM ${T} GROUP BY state
      UNION ALL
      SELECT 'next', 0, min(next_attempt_at) FROM ${T} WHERE state = 'pending'`);
    this.#list = prep(`SELECT * FROM ${T} WHERE state = ? ORDER BY created_at, rowid LIMIT ? OFFSET ?`);
    const replaySet = `SET state = 'pending', attempts = 0, rate_limit_waits = 0, next_attempt_at = :now, ${unlease}`;
    this.#replayAll = prep(`UPDATE ${T} ${replaySet} WHERE state = 'dead'`);
    this.#replaySome = prep(`UPDATE ${T} ${replaySet} WHERE state = 'dead' AND call_id IN (SELECT value FROM json_each(:ids))`);
  }

  /** @inheritdoc */
  async enqueue(item: NewOutboxItem): Promise<EnqueueResult> {
    this.#open();
    // A single INSERT in autocommit mode is its own transaction: with synchronous=FULL it is on disk
    // when run() returns, with one commit instead of the three statements of an explicit transaction.
    return this.#enqueueOne(item, Date.now());
  }

  /** @inheritdoc */
  async enqueueMany(items: NewOutboxItem[]): Promise<EnqueueResult[]> {
    this.#open();
    if (items.length === 0) return [];
    const now = Date.now();
    return this.#transaction(() => items.map((item) => this.#enqueueOne(item, now)));
  }

  /** @inheritdoc */
  async lease(options: {
    limit: number;
    leaseMs: number;
    owner: string;
    now?: number;
    callIds?: readonly string[];
  }): Promise<OutboxItem[]> {
    this.#open();
    const { limit, leaseMs, owner } = options;
    if (!Number.isInteger(limit) || limit < 0) throw new TypeError(`lease limit must be a whole number ≥ 0, got ${limit}`);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new TypeError(`leaseMs must be > 0, got ${leaseMs}`);
    if (owner === '') throw new TypeError('lease owner must not be empty');
    if (limit === 0 || options.callIds?.length === 0) return [];
    const now = options.now ?? Date.now();
    const params = { owner, now, until: now + leaseMs, limit };
    const rows = this.#transaction(() =>
      options.callIds === undefined
        ? this.#leaseAny.all(params)
        : this.#leaseSome.all({ ...params, ids: JSON.stringify(options.callIds) }),
    );
    // RETURNING gives rows in no promised order; restore the due order the contract promises.
    rows.sort((a, b) => num(a, 'next_attempt_at') - num(b, 'next_attempt_at') || num(a, 'rid') - num(b, 'rid'));
    return rows.map(toItem);
  }

  /** @inheritdoc */
  async checkpointRecording(callId: string, checkpoint: Partial<Omit<RecordingCheckpoint, 'path'>>): Promise<void> {
    this.#open();
    for (const key of ['size', 'duration'] as const) {
      const v = checkpoint[key];
      if (v !== undefined && v !== null && !Number.isFinite(v)) throw new TypeError(`recording ${key} must be a finite number, got ${v}`);
    }
    const flag = (key: keyof typeof checkpoint): number => (checkpoint[key] === undefined ? 0 : 1);
    const result = this.#checkpoint.run({
      id: callId,
      now: Date.now(),
      setUrl: flag('url'),
      url: checkpoint.url ?? null,
      setSize: flag('size'),
      size: checkpoint.size ?? null,
      setDuration: flag('duration'),
      duration: checkpoint.duration ?? null,
      setNote: flag('note'),
      note: checkpoint.note ?? null,
    });
    // Losing a checkpoint silently would mean uploading the recording again on the next attempt.
    if (Number(result.changes) === 0) {
      throw new CrmUploadError('E_OUTBOX_MISSING', `no outbox item ${callId} to checkpoint the recording on`, { callId });
    }
  }

  /** @inheritdoc */
  async settle(owner: string, settlements: readonly Settlement[], now: number = Date.now()): Promise<void> {
    this.#open();
    if (settlements.length === 0) return;
    this.#transaction(() => {
      for (const s of settlements) {
        const base = { id: s.callId, owner, now, status: s.status };
        switch (s.kind) {
          case 'delivered':
            this.#settleDelivered.run({ id: s.callId, now, status: s.status });
            break;
          case 'retry':
            this.#settleRetry.run({ ...base, next: s.nextAttemptAt, error: s.error });
            break;
          case 'wait':
            this.#settleWait.run({ ...base, next: s.nextAttemptAt, error: s.error });
            break;
          case 'dead':
            this.#settleDead.run({ ...base, error: s.error, inc: s.countAttempt ? 1 : 0 });
            break;
          default:
            throw new TypeError(`unknown settlement ${JSON.stringify(s satisfies never)}`);
        }
      }
    });
  }

  /** @inheritdoc */
  async release(owner: string, callIds: readonly string[]): Promise<void> {
    this.#open();
    if (callIds.length === 0) return;
    this.#transaction(() => this.#release.run({ owner, now: Date.now(), ids: JSON.stringify(callIds) }));
  }

  /** @inheritdoc */
  async get(callId: string): Promise<OutboxItem | null> {
    this.#open();
    const row = this.#get.get(callId);
    return row === undefined ? null : toItem(row);
  }

  /** @inheritdoc */
  async states(callIds: readonly string[]): Promise<Map<string, OutboxState>> {
    this.#open();
    const out = new Map<string, OutboxState>();
    for (let i = 0; i < callIds.length; i += STATES_CHUNK) {
      for (const row of this.#states.all(JSON.stringify(callIds.slice(i, i + STATES_CHUNK)))) {
        out.set(str(row, 'call_id'), state(row));
      }
    }
    return out;
  }

  /**
   * @inheritdoc
   * `nextAttemptAt` is the earliest `next_attempt_at` among pending items; in-flight items (even with an
   * expired lease) do not count. `now` is not needed by this store.
   */
  async counts(_now?: number): Promise<OutboxCounts> {
    this.#open();
    const counts: OutboxCounts = { pending: 0, in_flight: 0, delivered: 0, dead: 0, nextAttemptAt: null };
    for (const row of this.#counts.all()) {
      const key = str(row, 'state');
      if (key === 'next') counts.nextAttemptAt = optNum(row, 'next');
      else if (STATES.has(key)) counts[key as OutboxState] = num(row, 'n');
    }
    return counts;
  }

  /** @inheritdoc */
  async list(options: { state: OutboxState; limit?: number; offset?: number }): Promise<OutboxItem[]> {
    this.#open();
    // SQLite reads a negative LIMIT as "no limit".
    return this.#list.all(options.state, options.limit ?? -1, options.offset ?? 0).map(toItem);
  }

  /** @inheritdoc */
  async replay(target: readonly string[] | 'all'): Promise<number> {
    this.#open();
    const now = Date.now();
    if (target !== 'all' && target.length === 0) return 0;
    const result = this.#transaction(() =>
      target === 'all' ? this.#replayAll.run({ now }) : this.#replaySome.run({ now, ids: JSON.stringify(target) }),
    );
    return Number(result.changes);
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  /** The pragmas in force on this connection, read back from SQLite rather than assumed. */
  pragmas(): SqlitePragmas {
    this.#open();
    const one = (name: string): SQLOutputValue | undefined => this.#db.prepare(`PRAGMA ${name}`).get()?.[name];
    return {
      journalMode: String(one('journal_mode')),
      synchronous: Number(one('synchronous')),
      busyTimeoutMs: Number(this.#db.prepare('PRAGMA busy_timeout').get()?.timeout ?? this.#busyTimeoutMs),
      foreignKeys: Number(one('foreign_keys')) === 1,
      schemaVersion: readSchemaVersion(this.#db),
    };
  }

  #enqueueOne(item: NewOutboxItem, now: number): EnqueueResult {
    checkNewItem(item);
    const params: Record<string, SQLInputValue> = {
      id: item.callId,
      payload: JSON.stringify(item.payload),
      source: item.sourceFile ?? null,
      recording: item.recordingPath,
      now,
    };
    if (Number(this.#insert.run(params).changes) === 1) return { callId: item.callId, enqueued: true, state: 'pending' };
    const row = this.#stateOf.get(item.callId);
    // The row cannot vanish (nothing deletes), so a conflict without a row would be a corrupt file.
    if (row === undefined) throw new Error(`outbox item ${item.callId} conflicted on insert but cannot be read`);
    return { callId: item.callId, enqueued: false, state: state(row) };
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

  #open(): void {
    if (this.#closed) throw new CrmUploadError('E_OUTBOX_CLOSED', `the outbox ${this.path} is closed`, { file: this.path });
  }
}

function checkNewItem(item: NewOutboxItem): void {
  if (typeof item.callId !== 'string' || item.callId === '') {
    throw new InputError('E_OUTBOX_ITEM', 'an outbox item needs a non-empty callId');
  }
  if (item.payload === null || typeof item.payload !== 'object') {
    throw new InputError('E_OUTBOX_ITEM', `outbox item ${item.callId} has no payload object`, { callId: item.callId });
  }
}

function toItem(row: Row): OutboxItem {
  return {
    callId: str(row, 'call_id'),
    payload: JSON.parse(str(row, 'payload')) as CallPayload,
    sourceFile: optStr(row, 'source_file'),
    state: state(row),
    attempts: num(row, 'attempts'),
    rateLimitWaits: num(row, 'rate_limit_waits'),
    nextAttemptAt: num(row, 'next_attempt_at'),
    leaseOwner: optStr(row, 'lease_owner'),
    leaseUntil: optNum(row, 'lease_until'),
    lastStatus: optNum(row, 'last_status'),
    lastError: optStr(row, 'last_error'),
    recording: {
      path: optStr(row, 'recording_path'),
      url: optStr(row, 'recording_url'),
      size: optNum(row, 'recording_size'),
      duration: optNum(row, 'recording_duration'),
      note: optStr(row, 'recording_note'),
    },
    createdAt: num(row, 'created_at'),
    updatedAt: num(row, 'updated_at'),
    deliveredAt: optNum(row, 'delivered_at'),
  };
}

function state(row: Row): OutboxState {
  const s = str(row, 'state');
  if (!STATES.has(s)) throw new Error(`outbox row has unknown state ${s}`);
  return s as OutboxState;
}

function str(row: Row, column: string): string {
  const v = row[column];
  if (typeof v !== 'string') throw new Error(`outbox column ${column} is not text`);
  return v;
}

function optStr(row: Row, column: string): string | null {
  const v = row[column];
  return v === null || v === undefined ? null : String(v);
}

function num(row: Row, column: string): number {
  const v = row[column];
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new Error(`outbox column ${column} is not a number`);
}

function optNum(row: Row, column: string): number | null {
  const v = row[column];
  return v === null || v === undefined ? null : num(row, column);
}
