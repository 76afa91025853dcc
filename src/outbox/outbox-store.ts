/**
 * The durable outbox contract (docs/architecture.md, "Delivery" → "Outbox"). The SQLite store and the BullMQ store
 * both implement it, and one contract test suite (`test/outbox/outbox-contract.ts`) runs against each.
 *
 * States: pending → in_flight (leased) → delivered | dead. A failed attempt goes back to pending with its
 * next attempt time; an expired lease puts a crashed worker's item back to pending.
 */
import type { Pacer } from '../pacing/pacer.ts';
import type { CallPayload } from '../payload/call-payload.ts';

/** The four states of an item. */
export type OutboxState = 'pending' | 'in_flight' | 'delivered' | 'dead';

/** Recording checkpoint: once `url` is set the recording is never uploaded again. */
export interface RecordingCheckpoint {
  /** Absolute path of the recording to upload, or null when the call has none. */
  path: string | null;
  url: string | null;
  size: number | null;
  duration: number | null;
  /** Why the call went out without its recording, when it did. */
  note: string | null;
}

/** What is enqueued. The API key is never part of it. */
export interface NewOutboxItem {
  callId: string;
  /** The contract-valid payload, without `recordingUrl`. */
  payload: CallPayload;
  /** Recording to upload before the call data, or null. */
  recordingPath: string | null;
  /** The input file the call came from, for status and errors. */
  sourceFile?: string | null;
}

/** One item as stored. Times are epoch milliseconds. */
export interface OutboxItem {
  callId: string;
  payload: CallPayload;
  sourceFile: string | null;
  state: OutboxState;
  /** Attempts used (rate-limited waits do not count). */
  attempts: number;
  /** Rate-limited waits so far (capped at 100 per item, docs/architecture.md). */
  rateLimitWaits: number;
  nextAttemptAt: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  lastStatus: number | null;
  lastError: string | null;
  recording: RecordingCheckpoint;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
  /**
   * An earlier attempt may have reached the CRM without its answer being read: a timeout or a cut
   * connection after the request was written, a stop mid-request, or a lease that expired while the
   * item was in flight (docs/architecture.md, "Delivery" → "Uncertain attempts"). The worker then asks the
   * CRM before sending again ("Verify before re-sending"). Set by `lease` (an expired lease taken over),
   * `settle` and `release` as they say; false for a new item.
   */
  uncertain: boolean;
}

/**
 * One request of an attempt, for the per-call timeline (dashboard) and `history`. Written with the
 * attempt's settlement, in the same transaction where the store has them.
 */
export interface AttemptLogEntry {
  /** When the request started (epoch ms). */
  at: number;
  /**
   * Which request: the recording upload, the call-data POST, or the CRM listing asked whether it already
   * holds the call before re-sending after an uncertain attempt (docs/architecture.md, "Delivery" →
   * "Verify before re-sending").
   */
  step: 'recording' | 'call-data' | 'verify';
  /** The attempt this request belonged to (1 for the first; a rate-limited wait repeats the number). */
  attempt: number;
  /** HTTP status, or null for a network error, a timeout or a step that made no request. */
  status: number | null;
  /** Time spent in the request (pacing excluded). */
  durationMs: number;
  /**
   * What came of it: the call's outcome for the call-data step (`delivered`, `retry`, `wait`, `dead`);
   * for the recording step `uploaded`, `skipped` (sent without it, see `error`), `not-ready` (egress
   * still writing) or the outcome that ended the attempt early; for the verify step `delivered` (the CRM
   * holds it, same content: no POST), `dead` (it holds different content), `absent` (sent as usual) or
   * `unverified` (the listing failed or is not offered: sent anyway).
   */
  outcome: 'delivered' | 'retry' | 'wait' | 'dead' | 'uploaded' | 'skipped' | 'not-ready' | 'absent' | 'unverified';
  /** Why it failed or was skipped; null when it went well. */
  error: string | null;
  /**
   * The request may have reached the CRM though no answer was read (`src/crm/attempt-certainty.ts`);
   * absent in entries written before schema version 4 and by stores that do not know.
   */
  uncertain?: boolean;
}

/** What a store can do beyond the common contract. */
export interface StoreCapabilities {
  /**
   * `lease({ callIds })` leases only those calls. A shared queue (BullMQ) hands out jobs in its own
   * order and cannot pick: there `lease` with `callIds` rejects with `E_OUTBOX_UNSUPPORTED`, and a
   * worker that waits for some calls leases whatever is due until they are final.
   */
  selectiveLease: boolean;
  /**
   * A pacer shared by every process that uses this store (on every host), at the given requests per
   * minute, or null when each process paces itself. Its `holdFor` is the store's one rate-limit hold
   * (a 429's Retry-After): every process then sends nothing, and `lease`/`nextDueAt` hand out nothing,
   * until it ends. The keys it keeps are the store's own (`obliterate` removes them with the rest).
   */
  sharedPacer: ((requestsPerMinute: number) => Pacer) | null;
}

/** The result of an enqueue: `enqueued: false` when the callId was already there (nothing changed). */
export interface EnqueueResult {
  callId: string;
  enqueued: boolean;
  state: OutboxState;
}

/** The outcome of one attempt, recorded (in batches) by `settle` or `settleAndLease`. */
export type Settlement = (
  /**
   * The CRM accepted the call: state delivered, deliveredAt = the settle's `now`, attempts + 1, lastError
   * cleared. Unlike the other kinds it applies whoever reports it, as long as the item is not already
   * delivered or dead: a worker whose lease expired but whose POST got a 2xx really delivered the call.
   */
  | { callId: string; kind: 'delivered'; status: number | null }
  /** A failed attempt: attempts + 1, back to pending at `nextAttemptAt`. */
  | { callId: string; kind: 'retry'; nextAttemptAt: number; status: number | null; error: string }
  /** A rate-limited wait: rateLimitWaits + 1, attempts unchanged, back to pending at `nextAttemptAt`. */
  | { callId: string; kind: 'wait'; nextAttemptAt: number; status: number | null; error: string }
  /** Failed for good: attempts + 1 when `countAttempt`, state dead. */
  | { callId: string; kind: 'dead'; status: number | null; error: string; countAttempt: boolean }
) & {
  /**
   * The requests of the attempt, appended to the item's history (`history`) when the settlement is
   * applied; ignored, like the rest of the settlement, when a guard refuses it.
   */
  log?: readonly AttemptLogEntry[];
  /**
   * The item's `uncertain` flag after this attempt (a retry, wait or dead; a delivered clears it):
   * true when this attempt, or an earlier one not verified since, may have reached the CRM unanswered.
   * Absent: left as it was.
   */
  uncertain?: boolean;
};

/** Counts by state, and when the next item can be leased. */
export interface OutboxCounts {
  pending: number;
  in_flight: number;
  delivered: number;
  dead: number;
  /**
   * When the earliest item becomes leasable (epoch ms), or null when nothing is pending or in flight:
   * the minimum of the pending items' `nextAttemptAt` and the in-flight items' `leaseUntil` — the same
   * value as `nextDueAt()`. The leases count because a crashed process's items come back when its
   * lease expires, and a waiting `bulk` or `send` must wake up then. A time in the past means
   * something is due now.
   */
  nextAttemptAt: number | null;
  /**
   * When the oldest item that is not final (pending or in flight) was enqueued (epoch ms), or null: the
   * backlog's age, for alerts and the dashboard.
   */
  oldestPendingAt: number | null;
}

/** What `lease` takes (and, without `owner`, the lease half of `settleAndLease`). */
export interface LeaseOptions {
  /** At most this many items (a whole number ≥ 0; 0 leases nothing). */
  limit: number;
  /** The lease lasts until now + leaseMs (> 0). */
  leaseMs: number;
  /** Who holds the lease; only this owner can then record a failure (see `settle`). */
  owner: string;
  /**
   * The current time, epoch ms; default the clock. A store on a shared clock (BullMQ: Redis decides
   * when a job is due and when a lock expires) ignores it.
   */
  now?: number;
  /**
   * Only these calls (unknown ones are ignored; an empty list leases nothing). Only where
   * `capabilities.selectiveLease`; elsewhere it rejects.
   */
  callIds?: readonly string[];
}

/** Which delivered items `listDelivered` returns. */
export interface DeliveredQuery {
  /** Only calls that started at or after this time (epoch ms, the payload's `callDetails.startTime`). */
  startFrom?: number;
  /** Only calls that started at or before this time. */
  startTo?: number;
  limit?: number;
  offset?: number;
}

/** Which delivered calls `listDeliveredByTime` returns: those delivered in [from, to] (epoch ms, both included). */
export interface DeliveredTimeQuery {
  /** Delivered at or after this time. */
  from: number;
  /** Delivered at or before this time; default: no bound. */
  to?: number;
  limit?: number;
  offset?: number;
}

/** A delivered call as `listDeliveredByTime` gives it: when it was enqueued and when it was delivered. */
export interface DeliveryTimes {
  callId: string;
  /** Enqueue time, epoch ms. */
  createdAt: number;
  /** Delivery time, epoch ms. */
  deliveredAt: number;
}

/**
 * What `purge` removes (docs/architecture.md, "Stores" → "Retention"). Pending and in-flight items are never
 * touched; a dead item only with `dead`.
 */
export interface PurgeOptions {
  /** Remove the delivered items delivered before this time (epoch ms, excluded); absent: no delivered item. */
  deliveredBefore?: number;
  /** Remove every dead item too, whatever its age (they otherwise stay until replayed). */
  dead?: boolean;
  /** Count what would be removed, remove nothing. */
  dryRun?: boolean;
  /** At most this many items of each kind (a whole number ≥ 1): one small batch; absent: all of them. */
  limit?: number;
}

/** What `purge` removed (or, with `dryRun`, would remove). */
export interface PurgeResult {
  /** Delivered items removed, with their payload and history. */
  delivered: number;
  /** Dead items removed. */
  dead: number;
  /**
   * The recording paths of the items removed (each once; items without one left out), so that the caller can
   * delete the recordings crm-upload kept for them (`serve`'s uploads); the store deletes no file.
   */
  recordingPaths: string[];
}

/**
 * The durable outbox. Every method is async so that a networked store fits the same contract. Methods
 * that take a `now` use it only where the store keeps its own clock (see `LeaseOptions.now`).
 */
export interface OutboxStore {
  /** What this store can do beyond the common contract. */
  readonly capabilities: StoreCapabilities;
  /** Durable once it resolves. Idempotent by callId: an existing item is left exactly as it is. */
  enqueue(item: NewOutboxItem): Promise<EnqueueResult>;
  /** Several enqueues in one transaction; same semantics as `enqueue` for each. */
  enqueueMany(items: NewOutboxItem[]): Promise<EnqueueResult[]>;
  /**
   * Lease up to `limit` items that are due (pending with nextAttemptAt ≤ now, or in_flight with an
   * expired lease), oldest due first, restricted to `callIds` when given. They become in_flight until
   * now + leaseMs. An item taken over from an expired lease is marked `uncertain`: its holder may have
   * sent it and died before reading the answer.
   */
  lease(options: LeaseOptions): Promise<OutboxItem[]>;
  /**
   * Store the uploaded recording's URL (and figures) on the item before the call-data POST. Only the
   * fields given change (an explicit null clears one). Rejects when the callId is unknown, since a lost
   * checkpoint would mean uploading the recording again.
   */
  checkpointRecording(callId: string, checkpoint: Partial<Omit<RecordingCheckpoint, 'path'>>): Promise<void>;
  /**
   * Record outcomes, several in one transaction. A retry, wait or dead changes an item only while it is
   * in_flight under `owner` (an expired lease still counts until another owner takes the item over, and
   * then the stale owner can no longer overwrite the new one); a delivered applies to any item not yet
   * final (see `Settlement`).
   */
  settle(owner: string, settlements: readonly Settlement[], now?: number): Promise<void>;
  /**
   * `settle(owner, settlements, now)` and then `lease({ ...lease, owner })`, as ONE atomic step: either
   * both happen or neither does. This is the worker's main step: every write commits (and, with a
   * local file, syncs) on its own, so recording a batch of outcomes and taking the next batch of items
   * together halves the commits per delivered call. The settlements are applied first, with exactly
   * the guards of `settle`, so an item they make due now (a retry or wait at ≤ `now`) can be leased
   * again by this very call. One `now` (default the clock) serves both halves. The lease options are
   * checked before anything is written. With no settlements it is `lease`; with `limit` 0 it is
   * `settle` and returns [].
   */
  settleAndLease(owner: string, settlements: readonly Settlement[], lease: Omit<LeaseOptions, 'owner'>): Promise<OutboxItem[]>;
  /**
   * Give leased items back (shutdown): in_flight → pending, due now, attempts unchanged. Only `owner`'s
   * leases. Those also in `options.uncertain` were cut short after their request may have reached the
   * CRM: they are marked `uncertain` (the others keep their flag).
   */
  release(owner: string, callIds: readonly string[], options?: { uncertain?: readonly string[] }): Promise<void>;
  get(callId: string): Promise<OutboxItem | null>;
  /** The states of the given callIds (missing ones are absent from the map). */
  states(callIds: readonly string[]): Promise<Map<string, OutboxState>>;
  counts(now?: number): Promise<OutboxCounts>;
  /**
   * When the earliest item (of `callIds`, when given) becomes leasable, epoch ms: the minimum of the
   * pending items' `nextAttemptAt` and the in-flight items' `leaseUntil`; null when none is pending or
   * in flight. `counts().nextAttemptAt` without its counts, for a worker deciding how long to sleep:
   * unlike the counts it must not cost time that grows with the outbox's history.
   */
  nextDueAt(options?: { callIds?: readonly string[] }): Promise<number | null>;
  /** Items in a state, oldest first. */
  list(options: { state: OutboxState; limit?: number; offset?: number }): Promise<OutboxItem[]>;
  /** Dead items back to pending, due now, attempts and waits reset. Returns how many moved. */
  replay(target: readonly string[] | 'all'): Promise<number>;
  /**
   * Delivered items back to pending, due now, attempts and waits reset (`reconcile --requeue`: the CRM
   * lost them). The recording checkpoint is kept. Returns how many moved; other states are untouched.
   */
  requeue(callIds: readonly string[]): Promise<number>;
  /** Delivered items by the call's start time, earliest first (`reconcile`). */
  listDelivered(query?: DeliveredQuery): Promise<OutboxItem[]>;
  /**
   * Delivered calls by the time they were delivered, earliest first, ties by callId (the dashboard's last
   * hour: a backfill of calls that started months ago is delivered now, and counts now). Indexed in both
   * stores (SQLite: a partial index on delivered_at; BullMQ: the completed set, scored by finish time), so a
   * read costs what the range holds, not the outbox's history; only times are read, never payloads.
   */
  listDeliveredByTime(query: DeliveredTimeQuery): Promise<DeliveryTimes[]>;
  /**
   * Remove final items for good (retention, `crm-upload purge`): the delivered ones delivered before
   * `deliveredBefore`, and with `dead` the dead ones, each with its payload and history, at most `limit` of
   * each kind. Removed data is not left readable in the store's files where the store can see to it (SQLite:
   * `secure_delete`, then the WAL checkpointed and truncated). A purged callId is unknown afterwards: enqueued
   * again, it is a new item.
   */
  purge(options: PurgeOptions): Promise<PurgeResult>;
  /** Every request of every attempt of the call, oldest first; [] when the call is unknown. */
  history(callId: string): Promise<AttemptLogEntry[]>;
  close(): Promise<void>;
}
