/**
 * The SQLite outbox (docs/architecture.md, "Delivery" → "Outbox", "Throughput", "Durability") on the built-in
 * `node:sqlite`. One file can be shared by several processes (a logger enqueueing, a worker, a bulk run):
 * WAL lets readers and one writer proceed together (see `sqlite-connection.ts` for the statements).
 *
 * `node:sqlite` is synchronous: a call blocks its thread for its commit — with `synchronous=FULL`, until
 * the disk has it — and, under contention, for up to the busy timeout. A call process only enqueues,
 * and that wait is what makes its enqueue durable. A delivering worker cannot afford it: every request
 * in flight waits with it. So once a worker delivers from the store at full speed, writes move to a
 * writer thread with its own connection (`sqlite-writer.ts`), and each write still resolves only when it
 * is committed. The worker also leases and settles in batches, one commit for both.
 *
 * The API key is never stored: no column holds it and `NewOutboxItem` has no field for it.
 */
import { resolve } from 'node:path';
import { ConfigError, CrmUploadError, InputError } from '../errors.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import type {
  AttemptLogEntry,
  DeliveredQuery,
  DeliveredTimeQuery,
  DeliveryTimes,
  EnqueueResult,
  LeaseOptions,
  NewOutboxItem,
  OutboxCounts,
  OutboxItem,
  OutboxState,
  OutboxStore,
  PurgeOptions,
  PurgeResult,
  RecordingCheckpoint,
  Settlement,
  StoreCapabilities,
} from './outbox-store.ts';
import { SqliteOutboxConnection, STATES, type InsertRow, type LeaseParams, type Row, type SqlitePragmas, type WriteOp } from './sqlite-connection.ts';
import { guardSqliteErrors, sqliteWriteError } from './sqlite-write-error.ts';
import { steadyNow } from '../time/steady-clock.ts';
import { WriterThread } from './sqlite-writer.ts';
import { PLAIN_PAYLOADS, type PayloadCipher } from './payload-cipher.ts';

export type { SqlitePragmas } from './sqlite-connection.ts';

/** Where a store's writes run (see `SqliteOutboxOptions.writer`). */
export type SqliteWriterMode = 'auto' | 'thread' | 'inline';

/** Options of `openSqliteOutbox`. */
export interface SqliteOutboxOptions {
  /**
   * How long a write waits for another process's transaction before failing (ms, default 5000). On the
   * calling thread the wait blocks the event loop, so keep it short; transactions here last milliseconds.
   */
  busyTimeoutMs?: number;
  /**
   * Where writes run. `'auto'` (default): on the calling thread until a worker delivers from this store
   * at full speed (a `settleAndLease` recording 32 outcomes or more at once), and from then on, as soon
   * as it is up, on a writer thread, so that commits no longer freeze the deliveries' event loop.
   * `'thread'`: on the writer thread from the start (writes wait until it is up). `'inline'`: always on
   * the calling thread. Either way a write resolves once it is committed. Should the writer thread fail,
   * writes go back to the calling thread.
   */
  writer?: SqliteWriterMode;
  /**
   * How payloads are stored (docs/architecture.md, "Stores" → "Payload encryption"): sealed under
   * `CRM_OUTBOX_KEY` and opened with it or an old key; default plain.
   */
  cipher?: PayloadCipher;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
// In 'auto' mode, a settleAndLease recording this many outcomes at once starts the writer thread: a
// worker that gathers so many between two commits delivers hundreds of calls a second, where a commit
// freezing its event loop costs throughput. A paced worker (CRM_RATE_LIMIT, 100/min by default) records
// one or two at a time and never pays for a thread.
const WRITER_THREAD_BATCH = 32;
// json_each() takes any number of ids, but very long JSON texts cost memory for nothing; states() of a
// whole bulk run reads in slices of this size.
const STATES_CHUNK = 500;

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
  /** @inheritdoc */
  readonly capabilities: StoreCapabilities = { selectiveLease: true, sharedPacer: null };
  readonly #conn: SqliteOutboxConnection;
  readonly #busyTimeoutMs: number;
  readonly #mode: SqliteWriterMode;
  readonly #cipher: PayloadCipher;
  #writer: WriterThread | null = null;
  #closed = false;

  constructor(path: string, options: SqliteOutboxOptions = {}) {
    const busy = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    if (!Number.isInteger(busy) || busy < 0) {
      throw new ConfigError(`busyTimeoutMs must be a whole number of milliseconds ≥ 0, got ${busy}`);
    }
    if (path.trim() === '') throw new ConfigError('the outbox path is empty', { variable: 'CRM_OUTBOX' });
    const mode = options.writer ?? 'auto';
    if (mode !== 'auto' && mode !== 'thread' && mode !== 'inline') throw new ConfigError(`unknown outbox writer mode ${String(mode)}`);
    this.path = resolve(path);
    this.#busyTimeoutMs = busy;
    this.#mode = mode;
    this.#cipher = options.cipher ?? PLAIN_PAYLOADS;
    // Opened (and migrated) here, so that a bad file fails the open, and the writer thread later finds
    // the schema current.
    try {
      // Every SQLite failure of this connection names the outbox and the way out (`sqlite-write-error.ts`).
      this.#conn = guardSqliteErrors(new SqliteOutboxConnection(this.path, busy), this.path, busy);
    } catch (err) {
      throw sqliteWriteError(err, this.path, 'open', busy);
    }
    if (mode === 'thread') this.#startWriter();
  }

  /**
   * Where writes go now: `'inline'` (the calling thread), `'starting'` (the writer thread is coming up;
   * in `'auto'` mode writes stay inline meanwhile), or `'thread'`.
   */
  get writer(): 'inline' | 'starting' | 'thread' {
    const w = this.#writer;
    if (w === null || w.failed) return 'inline';
    return w.up ? 'thread' : 'starting';
  }

  /** @inheritdoc */
  async enqueue(item: NewOutboxItem): Promise<EnqueueResult> {
    this.#open();
    const [result] = await this.#write('enqueue', [toInsertRow(item, this.#cipher)], steadyNow());
    if (result === undefined) throw new Error('the outbox returned no enqueue result');
    return result;
  }

  /** @inheritdoc */
  async enqueueMany(items: NewOutboxItem[]): Promise<EnqueueResult[]> {
    this.#open();
    if (items.length === 0) return [];
    return this.#write('enqueue', items.map((item) => toInsertRow(item, this.#cipher)), steadyNow());
  }

  /** @inheritdoc */
  async lease(options: LeaseOptions): Promise<OutboxItem[]> {
    this.#open();
    const params = leaseParams(options, options.owner);
    if (params === null) return [];
    return leased(await this.#write('settleAndLease', options.owner, [], params.now, params), this.#cipher);
  }

  /**
   * @inheritdoc
   * In the default `'auto'` mode, a call recording many outcomes at once starts the writer thread (see
   * `SqliteOutboxOptions.writer`).
   */
  async settleAndLease(owner: string, settlements: readonly Settlement[], lease: Omit<LeaseOptions, 'owner'>): Promise<OutboxItem[]> {
    this.#open();
    // One `now` for both halves. The options are checked before anything is written.
    const now = lease.now ?? steadyNow();
    const params = leaseParams({ ...lease, now }, owner);
    if (settlements.length === 0 && params === null) return [];
    if (this.#mode === 'auto' && this.#writer === null && settlements.length >= WRITER_THREAD_BATCH) this.#startWriter();
    return leased(await this.#write('settleAndLease', owner, settlements, now, params), this.#cipher);
  }

  /** @inheritdoc */
  async checkpointRecording(callId: string, checkpoint: Partial<Omit<RecordingCheckpoint, 'path'>>): Promise<void> {
    this.#open();
    for (const key of ['size', 'duration'] as const) {
      const v = checkpoint[key];
      if (v !== undefined && v !== null && !Number.isFinite(v)) throw new TypeError(`recording ${key} must be a finite number, got ${v}`);
    }
    // Only the fields present cross over: an absent field is left as it is, an explicit null clears it.
    const fields: Partial<Omit<RecordingCheckpoint, 'path'>> = {};
    for (const key of ['url', 'size', 'duration', 'note'] as const) {
      if (checkpoint[key] !== undefined) Object.assign(fields, { [key]: checkpoint[key] });
    }
    const changed = await this.#write('checkpointRecording', callId, fields, steadyNow());
    // Losing a checkpoint silently would mean uploading the recording again on the next attempt.
    if (changed === 0) {
      throw new CrmUploadError(`no outbox item ${callId} to checkpoint the recording on`, { code: 'E_OUTBOX_MISSING', callId });
    }
  }

  /** @inheritdoc */
  async settle(owner: string, settlements: readonly Settlement[], now: number = steadyNow()): Promise<void> {
    this.#open();
    if (settlements.length === 0) return;
    await this.#write('settleAndLease', owner, settlements, now, null);
  }

  /** @inheritdoc */
  async release(owner: string, callIds: readonly string[], options: { uncertain?: readonly string[] } = {}): Promise<void> {
    this.#open();
    if (callIds.length === 0) return;
    await this.#write('release', owner, callIds, steadyNow(), options.uncertain ?? []);
  }

  /** @inheritdoc */
  async get(callId: string): Promise<OutboxItem | null> {
    this.#open();
    const row = this.#conn.get(callId);
    return row === undefined ? null : toItem(row, this.#cipher);
  }

  /** @inheritdoc */
  async states(callIds: readonly string[]): Promise<Map<string, OutboxState>> {
    this.#open();
    const out = new Map<string, OutboxState>();
    for (let i = 0; i < callIds.length; i += STATES_CHUNK) {
      for (const row of this.#conn.states(callIds.slice(i, i + STATES_CHUNK))) out.set(str(row, 'call_id'), state(row));
    }
    return out;
  }

  /**
   * @inheritdoc
   * `now` is not needed by this store: an expired lease's `leaseUntil` is simply in the past. The
   * counts themselves walk an index whose size grows with the outbox's history; `nextDueAt` does not.
   */
  async counts(_now?: number): Promise<OutboxCounts> {
    this.#open();
    const counts: OutboxCounts = { pending: 0, in_flight: 0, delivered: 0, dead: 0, nextAttemptAt: null, oldestPendingAt: null };
    for (const row of this.#conn.counts()) {
      const key = str(row, 'state');
      if (key === 'next') counts.nextAttemptAt = optNum(row, 'next');
      else if (key === 'oldest') counts.oldestPendingAt = optNum(row, 'next');
      else if (STATES.has(key)) counts[key as OutboxState] = num(row, 'n');
    }
    return counts;
  }

  /** @inheritdoc */
  async nextDueAt(options: { callIds?: readonly string[] } = {}): Promise<number | null> {
    this.#open();
    const { callIds } = options;
    if (callIds === undefined) return this.#conn.nextDueAt();
    let next: number | null = null;
    for (let i = 0; i < callIds.length; i += STATES_CHUNK) {
      const t = this.#conn.nextDueAt(callIds.slice(i, i + STATES_CHUNK));
      if (t !== null && (next === null || t < next)) next = t;
    }
    return next;
  }

  /** @inheritdoc */
  async list(options: { state: OutboxState; limit?: number; offset?: number }): Promise<OutboxItem[]> {
    this.#open();
    return this.#conn.list(options.state, options.limit ?? -1, options.offset ?? 0).map((row) => toItem(row, this.#cipher));
  }

  /** @inheritdoc */
  async replay(target: readonly string[] | 'all'): Promise<number> {
    this.#open();
    if (target !== 'all' && target.length === 0) return 0;
    return this.#write('replay', target, steadyNow());
  }

  /** @inheritdoc */
  async requeue(callIds: readonly string[]): Promise<number> {
    this.#open();
    if (callIds.length === 0) return 0;
    return this.#write('requeue', callIds, steadyNow());
  }

  /** @inheritdoc */
  async listDelivered(query: DeliveredQuery = {}): Promise<OutboxItem[]> {
    this.#open();
    const from = query.startFrom ?? Number.MIN_SAFE_INTEGER;
    const to = query.startTo ?? Number.MAX_SAFE_INTEGER;
    return this.#conn.delivered(from, to, query.limit ?? -1, query.offset ?? 0).map((row) => toItem(row, this.#cipher));
  }

  /** @inheritdoc */
  async listDeliveredByTime(query: DeliveredTimeQuery): Promise<DeliveryTimes[]> {
    this.#open();
    const rows = this.#conn.deliveredByTime(query.from, query.to ?? Number.MAX_SAFE_INTEGER, query.limit ?? -1, query.offset ?? 0);
    return rows.map((r) => ({ callId: r.call_id, createdAt: r.created_at, deliveredAt: r.delivered_at }));
  }

  /**
   * @inheritdoc
   * Deleted rows are overwritten with zeros (`secure_delete`), their pages reused by later items, and the WAL
   * checkpointed and truncated after the commit; a reader holding an old snapshot at that moment (another
   * process) delays the truncation to the next purge.
   */
  async purge(options: PurgeOptions): Promise<PurgeResult> {
    this.#open();
    checkPurgeOptions(options);
    if (options.deliveredBefore === undefined && options.dead !== true) return { delivered: 0, dead: 0, recordingPaths: [] };
    if (options.dryRun === true) return this.#conn.purge(options);
    return this.#write('purge', options);
  }

  /** @inheritdoc */
  async history(callId: string): Promise<AttemptLogEntry[]> {
    this.#open();
    return this.#conn.history(callId).map(toLogEntry);
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The writer finishes the writes already sent to it before it closes its connection.
    await this.#writer?.close();
    this.#conn.close();
  }

  /** The pragmas in force on this connection, read back from SQLite rather than assumed. */
  pragmas(): SqlitePragmas {
    this.#open();
    return this.#conn.pragmas();
  }

  #startWriter(): void {
    this.#writer = new WriterThread({ path: this.path, busyTimeoutMs: this.#busyTimeoutMs });
  }

  /**
   * Run a write where it belongs now. In `'auto'` mode a writer that is still starting is not waited
   * for: the write runs here, synchronously, so it is committed before any later one is sent to the
   * thread, and the order of writes holds.
   */
  async #write<K extends WriteOp>(op: K, ...args: Parameters<SqliteOutboxConnection[K]>): Promise<ReturnType<SqliteOutboxConnection[K]>> {
    try {
      const w = this.#writer;
      if (w !== null && !w.failed && (w.up || this.#mode === 'thread')) return await w.call(op, ...args);
      const method = this.#conn[op] as (...a: Parameters<SqliteOutboxConnection[K]>) => ReturnType<SqliteOutboxConnection[K]>;
      return method.apply(this.#conn, args);
    } catch (err) {
      // "database or disk is full" names neither the outbox nor the way out (docs/architecture.md, "Stores" → "SQLite").
      throw sqliteWriteError(err, this.path, op, this.#busyTimeoutMs);
    }
  }

  #open(): void {
    if (this.#closed) throw new CrmUploadError(`the outbox ${this.path} is closed`, { code: 'E_OUTBOX_CLOSED', file: this.path });
  }
}

/** Check purge options before anything is read or written. */
export function checkPurgeOptions(options: PurgeOptions): void {
  const { limit, deliveredBefore } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new TypeError(`purge limit must be a whole number ≥ 1, got ${limit}`);
  if (deliveredBefore !== undefined && !Number.isFinite(deliveredBefore)) throw new TypeError(`purge deliveredBefore must be a time in epoch ms, got ${deliveredBefore}`);
}

/** Check lease options; null when the lease would take nothing (limit 0 or an empty `callIds`). */
function leaseParams(options: Omit<LeaseOptions, 'owner'>, owner: string): LeaseParams | null {
  const { limit, leaseMs } = options;
  if (!Number.isInteger(limit) || limit < 0) throw new TypeError(`lease limit must be a whole number ≥ 0, got ${limit}`);
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new TypeError(`leaseMs must be > 0, got ${leaseMs}`);
  if (owner === '') throw new TypeError('lease owner must not be empty');
  if (limit === 0 || options.callIds?.length === 0) return null;
  const now = options.now ?? steadyNow();
  return { owner, now, until: now + leaseMs, limit, callIds: options.callIds };
}

/** Leased rows as items, in the due order the contract promises (RETURNING gives rows in no promised order). */
function leased(rows: Row[], cipher: PayloadCipher): OutboxItem[] {
  rows.sort((a, b) => num(a, 'next_attempt_at') - num(b, 'next_attempt_at') || num(a, 'rid') - num(b, 'rid'));
  return rows.map((row) => toItem(row, cipher));
}

/** The row to insert; the payload sealed here, on the calling thread (the key never reaches the writer thread). */
function toInsertRow(item: NewOutboxItem, cipher: PayloadCipher): InsertRow {
  if (typeof item.callId !== 'string' || item.callId === '') {
    throw new InputError('an outbox item needs a non-empty callId', { code: 'E_OUTBOX_ITEM' });
  }
  if (item.payload === null || typeof item.payload !== 'object') {
    throw new InputError(`outbox item ${item.callId} has no payload object`, { code: 'E_OUTBOX_ITEM', callId: item.callId });
  }
  const start = Date.parse(item.payload.callDetails?.startTime ?? '');
  return {
    callId: item.callId,
    payload: JSON.stringify(cipher.seal(item.callId, item.payload)),
    sourceFile: item.sourceFile ?? null,
    recordingPath: item.recordingPath,
    callStart: Number.isFinite(start) ? start : null,
  };
}

function toLogEntry(row: Row): AttemptLogEntry {
  return {
    at: num(row, 'at'),
    step: str(row, 'step') as AttemptLogEntry['step'],
    attempt: num(row, 'attempt'),
    status: optNum(row, 'status'),
    durationMs: num(row, 'duration_ms'),
    outcome: str(row, 'outcome') as AttemptLogEntry['outcome'],
    error: optStr(row, 'error'),
    ...(row.uncertain === null || row.uncertain === undefined ? {} : { uncertain: row.uncertain === 1 }),
  };
}

function toItem(row: Row, cipher: PayloadCipher): OutboxItem {
  const callId = str(row, 'call_id');
  return {
    callId,
    payload: cipher.open(callId, JSON.parse(str(row, 'payload'))),
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
    uncertain: row.uncertain === 1,
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
