/**
 * The durable outbox contract (DESIGN.md, "Delivery" → "Outbox"). The SQLite store and the BullMQ store
 * both implement it, and one contract test suite (`test/outbox/outbox-contract.ts`) runs against each.
 *
 * States: pending → in_flight (leased) → delivered | dead. A failed attempt goes back to pending with its
 * next attempt time; an expired lease puts a crashed worker's item back to pending.
 */
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
  /** Rate-limited waits so far (capped at 100 per item, DESIGN.md). */
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
}

/** The result of an enqueue: `enqueued: false` when the callId was already there (nothing changed). */
export interface EnqueueResult {
  callId: string;
  enqueued: boolean;
  state: OutboxState;
}

/** The outcome of one attempt, recorded (in batches) by `settle`. */
export type Settlement =
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
  | { callId: string; kind: 'dead'; status: number | null; error: string; countAttempt: boolean };

/**
 * Counts by state, and when the earliest pending item is due (epoch ms, or null). In-flight items do
 * not count towards `nextAttemptAt`, even when their lease has expired.
 */
export interface OutboxCounts {
  pending: number;
  in_flight: number;
  delivered: number;
  dead: number;
  nextAttemptAt: number | null;
}

/** The durable outbox. Every method is async so that a networked store fits the same contract. */
export interface OutboxStore {
  /** Durable once it resolves. Idempotent by callId: an existing item is left exactly as it is. */
  enqueue(item: NewOutboxItem): Promise<EnqueueResult>;
  /** Several enqueues in one transaction; same semantics as `enqueue` for each. */
  enqueueMany(items: NewOutboxItem[]): Promise<EnqueueResult[]>;
  /**
   * Lease up to `limit` items that are due (pending with nextAttemptAt ≤ now, or in_flight with an
   * expired lease), oldest due first, restricted to `callIds` when given. They become in_flight until
   * now + leaseMs.
   */
  lease(options: { limit: number; leaseMs: number; owner: string; now?: number; callIds?: readonly string[] }): Promise<OutboxItem[]>;
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
  /** Give leased items back (shutdown): in_flight → pending, due now, attempts unchanged. Only `owner`'s leases. */
  release(owner: string, callIds: readonly string[]): Promise<void>;
  get(callId: string): Promise<OutboxItem | null>;
  /** The states of the given callIds (missing ones are absent from the map). */
  states(callIds: readonly string[]): Promise<Map<string, OutboxState>>;
  counts(now?: number): Promise<OutboxCounts>;
  /** Items in a state, oldest first. */
  list(options: { state: OutboxState; limit?: number; offset?: number }): Promise<OutboxItem[]>;
  /** Dead items back to pending, due now, attempts and waits reset. Returns how many moved. */
  replay(target: readonly string[] | 'all'): Promise<number>;
  close(): Promise<void>;
}
