/**
 * `crm-upload rekey` on a SQLite outbox (docs/architecture.md, "Stores" → "Payload encryption"): every
 * payload not under the current key is rewritten under it, in small `BEGIN IMMEDIATE` transactions on a
 * connection of its own, so that a worker delivering from the same file waits at most one batch. Each
 * write is a compare-and-set on the payload read: a row changed or purged meanwhile is left (counted as
 * skipped) rather than overwritten. Payloads are decrypted and sealed here, on the calling thread.
 */
import { DatabaseSync } from 'node:sqlite';
import { countSkipped, emptyRekeyReport, rekeyValue, type PayloadCipher, type RekeyOptions, type RekeyReport } from './payload-cipher.ts';
import { OUTBOX_TABLE as T } from './sqlite-schema.ts';

const DEFAULT_BATCH = 100;

/** Rewrite (or with `dryRun` count) the payloads of the outbox file `path` under `cipher`'s writing key. */
export function rekeySqliteOutbox(path: string, cipher: PayloadCipher, options: RekeyOptions & { busyTimeoutMs?: number } = {}): RekeyReport {
  const batch = options.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batch) || batch < 1) throw new TypeError(`rekey batch size must be a whole number ≥ 1, got ${batch}`);
  const report = emptyRekeyReport();
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    // The plaintext a rewritten row held is zeroed where SQLite frees it, not left in free pages.
    db.exec('PRAGMA secure_delete = ON');
    const page = db.prepare(`SELECT rowid AS rid, call_id, payload FROM ${T} WHERE rowid > ? ORDER BY rowid LIMIT ?`);
    const update = db.prepare(`UPDATE ${T} SET payload = ? WHERE call_id = ? AND payload = ?`);
    let last = 0;
    for (;;) {
      const rows = page.all(last, batch) as { rid: number; call_id: string; payload: string }[];
      if (rows.length === 0) break;
      last = Number(rows[rows.length - 1]?.rid);
      const writes = rows.flatMap((row) => {
        const next = rekeyValue(cipher, row.call_id, JSON.parse(row.payload), report);
        return next === null ? [] : [{ callId: row.call_id, old: row.payload, next: JSON.stringify(next) }];
      });
      if (options.dryRun === true || writes.length === 0) continue;
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const w of writes) {
          if (Number(update.run(w.next, w.callId, w.old).changes) === 0) countSkipped(report, JSON.parse(w.old));
        }
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    }
    // The WAL still holds the pages as they were before: truncate it (another reader may delay that).
    if (options.dryRun !== true && report.rewritten > 0) db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return report;
}
