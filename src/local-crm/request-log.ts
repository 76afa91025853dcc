/**
 * What the local CRM saw: one record per non-admin request and running counts. Tests read them through
 * `/__admin/requests` and `/__admin/stats` to assert keys, retries and faults. The Authorization header
 * is kept only as "present or not": a token never enters the log.
 */
import type { FaultKind } from './faults.ts';

/** One request as the local CRM saw it. */
export interface RequestRecord {
  /** 1, 2, 3… in arrival order (not reset by `/__admin/reset`'s clearing of older records). */
  seq: number;
  /** Arrival time, ISO. */
  time: string;
  method: string;
  /** Path without the query. */
  path: string;
  /** Query string without `?`, `''` when none. */
  query: string;
  idempotencyKey: string | null;
  /** `callDetails.callId` of a call-data POST, when the body had one. */
  callId: string | null;
  /** Status answered; null while pending, and for hung or reset requests. */
  status: number | null;
  /** The fault applied, if any. */
  fault: FaultKind | null;
  /** Whether an Authorization header came (never its value). */
  authorization: boolean;
  /** SHA-256 (hex) of a call-data POST's body bytes, so that tests can tell a repeat sent the same bytes. */
  bodySha256: string | null;
}

/** Counts since start (or the last reset). */
export interface LocalCrmStats {
  /** Every non-admin request. */
  requests: number;
  callDataPosts: number;
  uploads: number;
  listRequests: number;
  /** Calls stored by a call-data POST (201). */
  created: number;
  /** Call-data POSTs replayed for their Idempotency-Key. */
  replays: number;
  /** Call-data POSTs answered 409. */
  conflicts: number;
  /** Calls stored as a further copy of a callId already held (`ignoreIdempotency`). */
  duplicates: number;
  /** Call-data POSTs answered 400 (invalid JSON or contract violation). */
  invalid: number;
  /** Uploads that stored a file. */
  uploadsStored: number;
  /** Uploads replayed for their Idempotency-Key (no second file). */
  uploadReplays: number;
  /** 429s of the sliding-window rate limit (storms are counted under `faults.storm429`). */
  rateLimited: number;
  /** Faults applied, by kind. */
  faults: Record<Exclude<FaultKind, 'rateLimit'>, number>;
}

// Enough for any test or benchmark run, while a server left running for days stays bounded.
const MAX_RECORDS = 200_000;

/** The request log and counters of one server. */
export class RequestLog {
  #records: RequestRecord[] = [];
  #seq = 0;
  stats: LocalCrmStats = emptyStats();

  /** Start a record for an arriving request. */
  start(method: string, path: string, query: string, headers: Record<string, string | string[] | undefined>): RequestRecord {
    const key = headers['idempotency-key'];
    const record: RequestRecord = {
      seq: ++this.#seq,
      time: new Date().toISOString(),
      method,
      path,
      query,
      idempotencyKey: typeof key === 'string' ? key : null,
      callId: null,
      status: null,
      fault: null,
      authorization: headers.authorization !== undefined,
      bodySha256: null,
    };
    this.#records.push(record);
    if (this.#records.length > MAX_RECORDS) this.#records.splice(0, this.#records.length - MAX_RECORDS);
    this.stats.requests++;
    return record;
  }

  /** Note a fault on a record and count it. */
  fault(record: RequestRecord, kind: FaultKind): void {
    record.fault = kind;
    if (kind === 'rateLimit') this.stats.rateLimited++;
    else this.stats.faults[kind]++;
  }

  /** Records with `seq` greater than `since`. */
  records(since = 0): RequestRecord[] {
    return this.#records.filter((r) => r.seq > since).map((r) => ({ ...r }));
  }

  /** Forget every record and count (`seq` keeps growing, so a late reader never confuses two runs). */
  reset(): void {
    this.#records = [];
    this.stats = emptyStats();
  }
}

function emptyStats(): LocalCrmStats {
  return {
    requests: 0,
    callDataPosts: 0,
    uploads: 0,
    listRequests: 0,
    created: 0,
    replays: 0,
    conflicts: 0,
    duplicates: 0,
    invalid: 0,
    uploadsStored: 0,
    uploadReplays: 0,
    rateLimited: 0,
    faults: { latency: 0, storm429: 0, fail: 0, hang: 0, reset: 0, forceStatus: 0, uploadStatus: 0, strangeAnswer: 0, lostAnswer: 0 },
  };
}
