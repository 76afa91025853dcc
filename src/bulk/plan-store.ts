/**
 * The plan of a bulk run on disk (docs/architecture.md, "Throughput" → "Bulk memory"): what the scan keeps
 * of each file (path, kind, times, flags) and the callIds the run has prepared (and which of them it
 * still waits to see delivered or dead), in a throwaway SQLite
 * file beside the outbox, so that a run of any size keeps only a few bytes per file in memory (its kind
 * and flags, and its place in the link graph). Written once in large transactions without syncs (it is
 * rebuilt by the next run if lost), read back by file id.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { randomUUID } from 'node:crypto';
import { ensurePrivateDirSync, preparePrivateSqliteFiles } from '../fs/private-files.ts';
import { isPidAlive } from '../process/pid-alive.ts';

/** One file of the plan as written by the scan. */
export interface PlanRow {
  kind: number;
  path: string;
  /** Four times (ms, NaN for none): their meaning depends on the kind (see `plan-run.ts`). */
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

/** Rows per transaction while the scan writes. */
const BATCH = 5_000;
const PREFIX = 'bulk-plan-';
// States of a callId in the plan: prepared only (a dry run, or already delivered or dead in the outbox),
// enqueued for this run to deliver, and reported delivered or dead by its worker.
const PREPARED = 0;
const TO_DELIVER = 1;
const SETTLED = 2;

/** A plan file of its own for one run; removed by `close()`. */
export class PlanStore {
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #path: StatementSync;
  readonly #times: StatementSync;
  readonly #addCallId: StatementSync;
  readonly #toDeliver: StatementSync;
  readonly #settle: StatementSync;
  #inTransaction = false;
  #pending = 0;

  /** Create the plan file in `dir` (created 0700 if missing); plan files left by dead runs are removed. */
  constructor(dir: string) {
    ensurePrivateDirSync(dir);
    removeStalePlans(dir);
    this.file = join(dir, `${PREFIX}${process.pid}-${randomUUID().slice(0, 8)}.db`);
    // Created 0600 before SQLite opens it, as the outbox is: no moment with a wider mode.
    preparePrivateSqliteFiles(this.file);
    this.#db = new DatabaseSync(this.file);
    // Nothing here must survive a crash: the next run scans again.
    this.#db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2048; PRAGMA temp_store = FILE');
    this.#db.exec('CREATE TABLE files (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, path TEXT NOT NULL, t0 REAL, t1 REAL, t2 REAL, t3 REAL)');
    this.#db.exec(`CREATE TABLE call_ids (call_id TEXT PRIMARY KEY, state INTEGER NOT NULL DEFAULT ${PREPARED}) WITHOUT ROWID`);
    this.#insert = this.#db.prepare('INSERT INTO files (id, kind, path, t0, t1, t2, t3) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#path = this.#db.prepare('SELECT path FROM files WHERE id = ?');
    this.#times = this.#db.prepare('SELECT t0, t1, t2, t3 FROM files WHERE id = ?');
    this.#addCallId = this.#db.prepare('INSERT OR IGNORE INTO call_ids (call_id) VALUES (?)');
    this.#toDeliver = this.#db.prepare(`UPDATE call_ids SET state = ${TO_DELIVER} WHERE call_id = ? AND state = ${PREPARED}`);
    this.#settle = this.#db.prepare(`UPDATE call_ids SET state = ${SETTLED} WHERE call_id = ? AND state = ${TO_DELIVER}`);
  }

  /** Write file `id` (ids ascending from 0, in walk order). */
  add(id: number, row: PlanRow): void {
    if (!this.#inTransaction) {
      this.#db.exec('BEGIN');
      this.#inTransaction = true;
    }
    this.#insert.run(id, row.kind, row.path, orNull(row.t0), orNull(row.t1), orNull(row.t2), orNull(row.t3));
    if (++this.#pending >= BATCH) this.flush();
  }

  /** Commit what `add` wrote. */
  flush(): void {
    if (!this.#inTransaction) return;
    this.#db.exec('COMMIT');
    this.#inTransaction = false;
    this.#pending = 0;
  }

  /** The path of file `id`. */
  path(id: number): string {
    const row = this.#path.get(id) as { path: string } | undefined;
    if (row === undefined) throw new Error(`no file ${id} in the plan`);
    return row.path;
  }

  /** The times of file `id` (NaN for none). */
  times(id: number): [number, number, number, number] {
    const row = this.#times.get(id) as { t0: number | null; t1: number | null; t2: number | null; t3: number | null } | undefined;
    return [row?.t0 ?? Number.NaN, row?.t1 ?? Number.NaN, row?.t2 ?? Number.NaN, row?.t3 ?? Number.NaN];
  }

  /** Every file of `kind`, in id order, with its times. */
  *ofKind(kind: number): Generator<{ id: number; t0: number; t1: number; t2: number; t3: number }> {
    this.flush();
    const rows = this.#db.prepare('SELECT id, t0, t1, t2, t3 FROM files WHERE kind = ? ORDER BY id').iterate(kind) as Iterable<{ id: number; t0: number | null; t1: number | null; t2: number | null; t3: number | null }>;
    for (const r of rows) yield { id: r.id, t0: r.t0 ?? Number.NaN, t1: r.t1 ?? Number.NaN, t2: r.t2 ?? Number.NaN, t3: r.t3 ?? Number.NaN };
  }

  /** Every file, in id order, with its path. */
  *paths(): Generator<{ id: number; path: string }> {
    this.flush();
    yield* this.#db.prepare('SELECT id, path FROM files ORDER BY id').iterate() as Iterable<{ id: number; path: string }>;
  }

  /** Note that the run prepared `callId`; false when it already had (another file of the run has it). */
  addCallId(callId: string): boolean {
    return Number(this.#addCallId.run(callId).changes) === 1;
  }

  /** Note that the run enqueued these prepared calls to deliver; how many were not noted already. */
  markToDeliver(callIds: readonly string[]): number {
    if (callIds.length === 0) return 0;
    this.flush();
    let marked = 0;
    this.#db.exec('BEGIN');
    try {
      for (const id of callIds) marked += Number(this.#toDeliver.run(id).changes);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return marked;
  }

  /** Note that a call the run enqueued was delivered or went dead; false when it is not one, or noted already. */
  markSettled(callId: string): boolean {
    this.flush();
    return Number(this.#settle.run(callId).changes) === 1;
  }

  /** The calls the run enqueued and has not seen settled, `chunk` at a time (read whole before yielding). */
  *unsettled(chunk = 5_000): Generator<string[]> {
    this.flush();
    const page = this.#db.prepare(`SELECT call_id FROM call_ids WHERE state = ${TO_DELIVER} AND call_id > ? ORDER BY call_id LIMIT ?`);
    let after = '';
    for (;;) {
      const ids = (page.all(after, chunk) as { call_id: string }[]).map((r) => r.call_id);
      if (ids.length === 0) return;
      yield ids;
      after = ids.at(-1)!;
    }
  }

  /** Close and remove the plan file. */
  close(): void {
    if (!this.#db.isOpen) return;
    this.flush();
    this.#db.close();
    rmSync(this.file, { force: true });
  }
}

function orNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/** Remove plan files of runs whose process is gone (a killed run leaves its plan behind). */
function removeStalePlans(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = new RegExp(`^${PREFIX}(\\d+)-[0-9a-f]{8}\\.db$`).exec(name);
    if (m === null || isPidAlive(Number(m[1]))) continue;
    rmSync(join(dir, name), { force: true });
  }
}

