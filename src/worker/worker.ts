/**
 * The delivery worker (docs/architecture.md, "Delivery" and "Worker steps"): leases due items in
 * batches, runs up to `concurrency` deliveries at once, records outcomes in small batched transactions,
 * and sleeps until the next item is due. `send`, `bulk` and `watch` use the same worker (`deliverCalls`
 * in `deliver-calls.ts`), so there is one delivery path.
 *
 * The loop is a class that owns its state, in named steps that tests can call one at a time (as
 * BullMQ's Worker has `getNextJob`, `moveToActive`, `waitForJob`):
 * - `lease`: record the outcomes gathered so far and take as many due items as there is room for;
 * - `startBuffered`: start leased items while slots are free;
 * - `deliver`: one attempt of one item, then `settle` its outcome;
 * - `settle`: gather an outcome for the next commit (and hold the pacer on a 429);
 * - `sleep` and `wake`: wait for the next thing to do, cut short by a finished delivery or `stop()`.
 *
 * `node:sqlite` blocks the event loop for every commit, and a blocked loop delays every response in
 * flight, so the worker commits as rarely as the design allows: the outcomes gathered since the last
 * commit ride along with the next lease in one `settleAndLease` transaction, and they are written on
 * their own only when no lease comes within `SETTLE_FLUSH_MS` or when nothing is running.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { retryPolicyOf, type Config } from '../config/config.ts';
import type { CrmClient } from '../crm/crm-client.ts';
import { isCrmUploadError } from '../errors.ts';
import { failPoint } from '../failpoints/failpoints.ts';
import { probeAudio } from '../ingest/audio.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { OutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';
import { TRANSIENT_OUTBOX_CODES } from '../outbox/sqlite-write-error.ts';
import { steadyNow } from '../time/steady-clock.ts';
import type { Pacer } from '../pacing/pacer.ts';
import type { RetryPolicy } from '../policy/retry-policy.ts';
import { deliverItem, failedAttempt, type AttemptReport, type DeliverContext, type DeliverySettings } from './deliver-item.ts';
import { pacerFor } from './pacer-for.ts';
import { PURGE_BATCH, purgeOutbox } from '../retention/purge-outbox.ts';
import type { AudioFigures } from './recording-step.ts';
import { createSettleBatcher, type PendingSettlement, type SettleBatcher } from './settle-batch.ts';
import { ResendVerifier } from './verify-step.ts';

/** The configuration the worker reads. */
export type WorkerConfig = Pick<Config, 'timeoutMs' | 'rateLimit' | 'concurrency' | 'maxAttempts' | 'retryScheduleMs' | 'recordingWaitMs'> &
  /** Default `auto` (docs/architecture.md, "Delivery" → "Verify before re-sending"). */
  Partial<Pick<Config, 'verifyBeforeResend'>> &
  Partial<Pick<Config, 'maxConcurrency'>>;

/** Options of `startWorker`. */
export interface WorkerOptions {
  store: OutboxStore;
  client: CrmClient;
  config: WorkerConfig;
  logger?: Logger;
  /** Lease owner; default `<host>:<pid>:<random>`, unique per worker. */
  owner?: string;
  /** Default: the store's shared pacer, else an in-process one, at `config.rateLimit` requests per minute. */
  pacer?: Pacer;
  /** Default: the policy of `config` (its retry schedule and max attempts). */
  retryPolicy?: RetryPolicy;
  /** Deliver what is due now, then return once nothing is due now. */
  once?: boolean;
  /** Only these calls. */
  callIds?: readonly string[];
  /** Return once nothing (of `callIds`, when given) is pending or in flight. */
  idleExit?: boolean;
  /** How long `stop()` lets in-flight requests finish before aborting them; default 10 s. */
  graceMs?: number;
  /** Called once each outcome is committed. */
  onSettled?: (settlement: Settlement, item: OutboxItem) => void;
  /**
   * Called as each attempt ends, before its outcome is committed (metrics: outcome, status, duration,
   * bytes uploaded). Not called for an attempt cut short by `stop()`, which is released untouched.
   */
  onAttempt?: (report: AttemptReport, item: OutboxItem) => void;
  /** Reads a recording's size and duration after its upload; default `probeAudio`. */
  probe?: (path: string) => Promise<AudioFigures>;
  /**
   * Purge delivered calls older than the retention as it goes (docs/architecture.md, "Stores" → "Retention"):
   * one small batch between leases at most every `everyMs`; absent: never (`CRM_RETENTION=off`, and the
   * short-lived workers of `send` and `bulk`).
   */
  retention?: WorkerRetention;
}

/** The worker's own purge (`WorkerOptions.retention`). */
export interface WorkerRetention {
  /** Delivered calls older than this (ms) go, with their history. */
  olderThanMs: number;
  /** `serve`'s uploads folder, whose recordings of purged calls are deleted; null: no file is touched. */
  uploadsDir: string | null;
  /** Items per batch (one transaction); default `PURGE_BATCH` (500). */
  batchSize?: number;
  /** How often to purge; default `PURGE_EVERY_MS` (5 min). */
  everyMs?: number;
  /** After a full batch, the next one this soon; default `PURGE_AGAIN_MS` (1 s). */
  againMs?: number;
}

/** How often a worker purges (one batch), when it has a retention. */
export const PURGE_EVERY_MS = 5 * 60_000;
/** After a batch that was full (more is left), the next batch this soon: a backlog of years goes in minutes, never in one long transaction. */
export const PURGE_AGAIN_MS = 1_000;

/** What one worker run did. */
export interface WorkerSummary {
  /** Attempts made (each ends in one of the outcomes below, or a release). */
  attempts: number;
  delivered: number;
  retried: number;
  waited: number;
  dead: number;
  /** Items given back to the outbox by `stop()`. */
  released: number;
  durationMs: number;
}

/** A running worker. */
export interface WorkerHandle {
  /** Stop leasing, let in-flight requests finish within the grace period, release the rest. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped and every outcome is recorded. */
  done: Promise<WorkerSummary>;
}

/** With pacing, how far ahead deliveries wait for their slots when the limit needs more than CRM_CONCURRENCY. */
const WAITING_MS = 100;

/** Longest sleep when nothing is due, so that expired leases of crashed workers are picked up soon. */
export const IDLE_POLL_MS = 250;

/**
 * How long an outcome may wait for a lease to carry it before it is committed on its own (with a
 * top-up lease). About the gap between leases at full speed (4 × 16 items at 680 calls/s: 94 ms); when
 * it comes first, it is the next lease's commit that comes a little early, with the outcomes, not one
 * commit more. Short enough that `status` and progress callbacks still look immediate. When nothing is running, outcomes are written at once.
 * Only visibility depends on it: an outcome lost in a crash means a re-send with the same key.
 */
export const SETTLE_FLUSH_MS = 100;

// After a lease found nothing more and the outbox says something is due already (it turned due, or was
// enqueued, after the lease's snapshot), look again this soon rather than at once, so that an item this
// worker cannot take can never make it spin.
const RECHECK_MS = 20;

/** How long the loop waits before it tries a lease again after the outbox refused a write (full disk, lock). */
export const STORE_RETRY_MS = 1_000;

/** How long a lease lasts: twice the request timeout, at least 1 s (docs/architecture.md, "Outbox"). */
export function leaseDurationMs(timeoutMs: number): number {
  return Math.max(2 * timeoutMs, 1_000);
}

/** Start delivering. Errors of the store end the worker: `done` rejects after a clean shutdown. */
export function startWorker(options: WorkerOptions): WorkerHandle {
  const worker = new DeliveryWorker(options);
  return { done: worker.run(), stop: () => worker.stop() };
}

/**
 * One worker: its state and the steps of its loop. `startWorker` is the usual way to run one; tests
 * drive the steps directly.
 */
export class DeliveryWorker {
  /** This worker's lease owner. */
  readonly owner: string;
  /** What this worker has done so far (final once `run` resolves). */
  readonly summary: WorkerSummary = { attempts: 0, delivered: 0, retried: 0, waited: 0, dead: 0, released: 0, durationMs: 0 };
  readonly #options: WorkerOptions;
  readonly #store: OutboxStore;
  readonly #log: Logger;
  readonly #pacer: Pacer;
  readonly #settings: DeliverySettings;
  /**
   * A store that can pick leases only the calls asked for; a shared queue hands out whatever is due, and
   * this worker then delivers those too until its own calls are final (`finished`).
   */
  readonly #leaseIds: readonly string[] | undefined;
  readonly #leaseMs: number;
  /** CRM_CONCURRENCY: deliveries at once, and the fewest the worker ever runs. */
  readonly #baseConcurrency: number;
  /** CRM_MAX_CONCURRENCY: the most deliveries at once the user allows when the rate limit needs them. */
  readonly #maxConcurrency: number;
  /** Deliveries whose first request the pacer has let go and that have not ended yet. */
  #sending = 0;
  readonly #batcher: SettleBatcher;
  readonly #running = new Map<string, AbortController>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #buffer: OutboxItem[] = [];
  readonly #toRelease: string[] = [];
  /** Of `#toRelease`, the attempts cut short after their request may have reached the CRM. */
  readonly #releaseUncertain: string[] = [];
  /** Asks the CRM before re-sending an uncertain item (one warning per worker when it cannot). */
  readonly #verifier: ResendVerifier;
  /** Buffered items whose lease ran too short to start them; released by the loop. */
  readonly #stale: string[] = [];
  /** Sleeps that a finished delivery, a committed batch or stop() can cut short. */
  readonly #wakers = new Set<() => void>();
  #stopping = false;
  /**
   * The earliest time (epoch ms) a lease can find something due. A lease that comes back short has
   * taken everything due, so until then the loop does not lease again on its own (each try would be a
   * commit); outcomes still ride along with leases when they have to be written anyway. Lowered by this
   * worker's own retries and waits.
   */
  #nextLeaseAt = 0;
  /** When the loop's current nap ends by itself (steady clock, epoch ms); see `#wakeIfUseful`. */
  #napUntil = 0;
  /** When the next purge batch is due (wall clock, epoch ms); the first comes at the first turn. */
  #nextPurgeAt = 0;
  #done: Promise<WorkerSummary> | null = null;
  #stopped: Promise<void> | null = null;

  constructor(options: WorkerOptions) {
    const { store, config } = options;
    this.#options = options;
    this.#store = store;
    this.#log = options.logger ?? silentLogger();
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#pacer = options.pacer ?? pacerFor(store, config.rateLimit);
    this.#settings = { retryPolicy: options.retryPolicy ?? retryPolicyOf(config), recordingWaitMs: config.recordingWaitMs, timeoutMs: config.timeoutMs };
    this.#verifier = new ResendVerifier(config.verifyBeforeResend ?? 'auto', this.#log);
    this.#leaseIds = store.capabilities.selectiveLease ? options.callIds : undefined;
    this.#leaseMs = leaseDurationMs(config.timeoutMs);
    this.#baseConcurrency = Math.max(1, config.concurrency);
    this.#maxConcurrency = Math.max(this.#baseConcurrency, config.maxConcurrency ?? 0);
    this.#batcher = createSettleBatcher({
      store,
      owner: this.owner,
      flushMs: SETTLE_FLUSH_MS,
      // The loop writes every batch itself, with the next lease when there is room for one.
      onDue: () => this.wake(),
      onCommitted: (batch: readonly PendingSettlement[]) => this.#committed(batch),
      onError: (err) => {
        // The leases run out and the items go out again under the same keys; nothing is lost.
        this.#log.error({ err: errorText(err) }, 'could not record outcomes; the items will be retried when their leases expire');
      },
    });
  }

  /**
   * Deliveries run at once. CRM_CONCURRENCY, unless the rate limit needs more to be used
   * (docs/architecture.md, "Rate limit"): a request holds its slot for the CRM's answer time while the
   * pacer grants one every interval, so answer time ÷ interval requests must be in flight to keep every
   * paced slot filled (at 6000/min and 1 s answers: 100). So, up to CRM_MAX_CONCURRENCY, the worker
   * keeps a quarter more than are sending, and the slots of the next 100 ms (at least two), waiting for
   * their turn — a delivery started late (a lease, a commit) would leave its slot unused: the count
   * follows the answer time as it changes, with no estimate to tune.
   */
  get concurrency(): number {
    if (this.#pacer.intervalMs === 0 || this.#maxConcurrency === this.#baseConcurrency) return this.#baseConcurrency;
    const wanted = this.#sending + Math.ceil(this.#sending / 4) + Math.max(2, Math.ceil(WAITING_MS / this.#pacer.intervalMs));
    return Math.min(this.#maxConcurrency, Math.max(this.#baseConcurrency, wanted));
  }

  /**
   * Items leased ahead of a free slot, so that a finished delivery is replaced at once and one lease
   * serves several rounds of slots. A lease is taken when fewer than `concurrency` items are left in the
   * buffer (see `#leaseWanted`), and it then takes four times the concurrency: at 16, the 64 outcomes
   * of a full batch (`settle-batch.ts`) ride along with every lease, one commit each. Every commit costs
   * the writer thread's time and a round trip whatever its size, and at four times the concurrency
   * ahead (three rounds per lease) a worker at full speed committed a third more often for the same
   * calls, and measurably reached fewer calls per second on a busy 2-core machine (issue 16). When the
   * slots are stuck on slow requests a buffered item can wait longer than its lease allows;
   * `startBuffered` then gives it back rather than start an attempt that might outlive its lease.
   */
  get #prefetch(): number {
    return 5 * this.concurrency;
  }

  /** Items leased and waiting for a slot. */
  get buffered(): readonly OutboxItem[] {
    return this.#buffer;
  }

  /** Calls being delivered now. */
  get inFlight(): readonly string[] {
    return [...this.#running.keys()];
  }

  /** True once `stop()` was called or the loop ended. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Run the loop, then shut down cleanly. Rejects (after the shutdown) when the store fails. Call once. */
  run(): Promise<WorkerSummary> {
    this.#done ??= (async (): Promise<WorkerSummary> => {
      const started = performance.now();
      let failure: unknown = null;
      try {
        while (!this.#stopping && (await this.turn()));
      } catch (err) {
        failure = err;
      }
      await this.shutdown();
      this.summary.durationMs = Math.round(performance.now() - started);
      if (failure !== null) throw failure;
      return this.summary;
    })();
    return this.#done;
  }

  /** Stop leasing, let in-flight requests finish within the grace period, release the rest. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      this.wake();
      await this.#done?.then(
        () => undefined,
        () => undefined,
      );
    })();
    return this.#stopped;
  }

  /**
   * One turn of the loop: give back stale items, then lease (with the outcomes gathered) when a lease
   * is wanted or outcomes are due, else sleep. False when the worker is finished (`once`, `idleExit`).
   */
  async turn(): Promise<boolean> {
    if (this.#stale.length > 0) {
      // Rare (the slots were stuck for a whole request timeout): due again at once, for a fresh lease.
      await this.#store.release(this.owner, this.#stale.splice(0));
      this.#nextLeaseAt = 0;
    }
    // Between leases: one small batch, so deliveries in flight go on and the next lease waits at most
    // one short transaction.
    if (this.#options.retention !== undefined && !this.#stopping && Date.now() >= this.#nextPurgeAt) await this.purge();
    const idle = this.#idle();
    // Outcomes are written with the next lease, or on their own once they have waited long enough, or
    // before an idle check.
    if (this.#leaseWanted(this.#leaseRoom()) || (this.#batcher.size > 0 && (this.#batcher.due || idle))) {
      // The commit blocks the event loop: let the answers that have already arrived be handled (and
      // their slots refilled from the buffer) first, rather than keep them waiting behind it.
      if (!idle) await yieldToIo();
      if (this.#stopping) return false;
      try {
        await this.lease();
      } catch (err) {
        // A full disk or a long lock passes: the worker stays up and tries again; the outcomes of that
        // commit are lost, which only means a re-send under the same key (docs/architecture.md, "Durability").
        if (!isCrmUploadError(err) || !TRANSIENT_OUTBOX_CODES.includes(err.code)) throw err;
        this.#log.warn({ code: err.code, err: errorText(err) }, `cannot write the outbox; trying again in ${STORE_RETRY_MS} ms`);
        await this.#nap(STORE_RETRY_MS);
      }
      return true;
    }
    return this.sleep();
  }

  /**
   * Record the outcomes gathered so far and lease as many due items as there is room for, in one
   * transaction (a top-up costs nothing extra); start them while slots are free. Returns how many
   * items were leased.
   */
  async lease(): Promise<number> {
    const room = this.#leaseRoom();
    const items = await this.#batcher.flushAndLease({ limit: room, leaseMs: this.#leaseMs, callIds: this.#leaseIds });
    if (items.length > 0) failPoint('after-lease');
    this.#buffer.push(...items);
    this.startBuffered();
    if (this.#stopping) return items.length;
    if (room > 0) this.#nextLeaseAt = items.length < room ? await this.#nextDue() : 0;
    return items.length;
  }

  /**
   * One purge batch of the retention (docs/architecture.md, "Stores" → "Retention"): delivered calls older
   * than it, at most `batchSize`, with the recordings kept for them. A failure is logged and tried again at
   * the next interval: retention never stops delivery. Returns how many calls went.
   */
  async purge(): Promise<number> {
    const r = this.#options.retention;
    if (r === undefined) return 0;
    const batchSize = r.batchSize ?? PURGE_BATCH;
    try {
      const result = await purgeOutbox(this.#store, { olderThanMs: r.olderThanMs, dead: false, uploadsDir: r.uploadsDir, batchSize, maxBatches: 1 });
      this.#nextPurgeAt = Date.now() + (result.more ? (r.againMs ?? PURGE_AGAIN_MS) : (r.everyMs ?? PURGE_EVERY_MS));
      if (result.delivered > 0) this.#log.info({ purged: result.delivered, recordings: result.recordings }, 'purged delivered calls past the retention');
      return result.delivered;
    } catch (err) {
      this.#nextPurgeAt = Date.now() + (r.everyMs ?? PURGE_EVERY_MS);
      this.#log.warn({ err: errorText(err) }, 'cannot purge the outbox now; trying again later');
      return 0;
    }
  }

  /** Start buffered items while slots are free. */
  startBuffered(): void {
    while (!this.#stopping && this.#running.size < this.concurrency) {
      const item = this.#buffer.shift();
      if (item === undefined) return;
      // Leased again while running (its lease looked over after the wall clock stepped forward): one
      // delivery of an item at a time; the running one settles it.
      if (this.#running.has(item.callId)) continue;
      // An attempt needs up to a request timeout; started later than that before its lease ends, it
      // could still be running when another worker takes the item over and sends it too.
      if (item.leaseUntil !== null && item.leaseUntil - steadyNow() < this.#options.config.timeoutMs) {
        this.#stale.push(item.callId);
        continue;
      }
      const controller = new AbortController();
      this.#running.set(item.callId, controller);
      const task = this.deliver(item, controller);
      this.#tasks.add(task);
      void task.finally(() => this.#tasks.delete(task));
    }
  }

  /**
   * One attempt of one leased item, its outcome gathered by `settle`. An attempt cut short by `stop()`
   * is given back untouched; one that broke for a reason of our own counts as a failed attempt.
   */
  async deliver(item: OutboxItem, controller: AbortController): Promise<void> {
    const task = { sending: false };
    try {
      const report = await deliverItem(item, this.#deliverContext(controller.signal, task));
      const kind = report.settlement.kind;
      // An answer that arrived is kept even after an abort; an attempt cut short goes back untouched.
      if (controller.signal.aborted && kind !== 'delivered' && kind !== 'dead') {
        this.#toRelease.push(item.callId);
        // A POST cut short after it was written may be in the CRM: the next attempt asks first.
        if (report.settlement.uncertain === true) this.#releaseUncertain.push(item.callId);
      } else {
        this.#logAttempt(item, report);
        this.#count(report.settlement);
        this.#notifyAttempt(report, item);
        this.settle(report.settlement, item);
      }
    } catch (err) {
      if (controller.signal.aborted) {
        this.#toRelease.push(item.callId);
      } else {
        const settlement = failedAttempt(item, `internal: ${errorText(err)}`, { settings: this.#settings });
        this.#log.error({ callId: item.callId, attempt: item.attempts + 1, err: errorText(err), outcome: settlement.kind }, 'attempt');
        this.#count(settlement);
        this.settle(settlement, item);
      }
    } finally {
      if (task.sending) this.#sending -= 1;
      this.#running.delete(item.callId);
      this.startBuffered();
      this.#wakeIfUseful();
    }
  }

  /** Gather an outcome for the next commit; a retry or wait makes its item due again, so lease again by then. */
  settle(settlement: Settlement, item: OutboxItem): void {
    if (settlement.kind === 'retry' || settlement.kind === 'wait') this.#nextLeaseAt = Math.min(this.#nextLeaseAt, settlement.nextAttemptAt);
    // The CRM refuses every request alike while it rate-limits us: hold them all (on every host, with a
    // store's shared pacer), not only this one, until its Retry-After is over. The one 429 hold.
    if (settlement.kind === 'wait' && settlement.status === 429) this.#pacer.holdFor(settlement.nextAttemptAt - steadyNow());
    this.#batcher.add(settlement, item);
  }

  /**
   * Nothing to lease or write now: wait for what comes next (a due time, a finished delivery, a due
   * batch of outcomes, `stop()`). False when the worker is finished (`once`, `idleExit`).
   */
  async sleep(): Promise<boolean> {
    const room = this.#leaseRoom();
    const idle = this.#idle();
    if (idle && room > 0) {
      // Nothing running, nothing gathered, and the last lease found nothing more due now.
      if ((this.#options.once || this.#options.idleExit) && (await this.#finished())) return false;
      await this.#nap(this.#nextLeaseAt - steadyNow());
    } else if (idle) {
      // The pacer is booked further ahead than a lease lasts (a shared pacer, or a very low limit).
      await this.#nap(Math.min(IDLE_POLL_MS * 4, this.#pacer.delayMs()));
    } else if (room > 0 && steadyNow() < this.#nextLeaseAt) {
      // Slots are free but nothing more is due before nextLeaseAt; a finished delivery or a due batch
      // of outcomes wakes the loop sooner.
      await this.#nap(this.#nextLeaseAt - steadyNow());
    } else {
      // Busy: a finished delivery or a due batch of outcomes wakes the loop.
      await this.#nap(IDLE_POLL_MS * 4);
    }
    return true;
  }

  /** Cut every current sleep short. */
  wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /**
   * After a delivery ends: wake the loop only when a turn would now do something (give back stale items,
   * write due outcomes, lease, see that it is idle, stop), or when its nap was chosen for a state that has
   * changed (room freed, and a lease due before the nap would end). At full speed most deliveries end
   * with the buffer still holding the next items and outcomes gathering for the next lease: a turn each
   * would cost a timer and a promise per call for nothing (issue 16).
   */
  #wakeIfUseful(): void {
    if (this.#wakers.size === 0) return;
    if (this.#stopping || this.#stale.length > 0 || this.#idle() || this.#batcher.due) {
      this.wake();
      return;
    }
    const room = this.#leaseRoom();
    if (this.#leaseWanted(room)) this.wake();
    else if (room > 0 && steadyNow() < this.#nextLeaseAt && this.#nextLeaseAt < this.#napUntil) this.wake();
  }

  /** Let in-flight requests finish within the grace period, write the outcomes, release the rest. */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    this.#toRelease.push(...this.#buffer.splice(0).map((i) => i.callId));
    if (this.#tasks.size > 0) {
      // Not #nap(): a delivery finishing would cut it short.
      let graceTimer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, this.#options.graceMs ?? 10_000)));
      await Promise.race([Promise.allSettled([...this.#tasks]), grace]);
      clearTimeout(graceTimer);
      for (const controller of this.#running.values()) controller.abort(new Error('worker stopping'));
      await Promise.allSettled([...this.#tasks]);
    }
    await this.#batcher.flush();
    if (this.#toRelease.length > 0) {
      const ids = this.#toRelease.splice(0);
      await this.#store.release(this.owner, ids, { uncertain: this.#releaseUncertain.splice(0) });
      this.summary.released += ids.length;
    }
  }

  #idle(): boolean {
    return this.#running.size === 0 && this.#buffer.length === 0;
  }

  #nap(ms: number): Promise<void> {
    this.#napUntil = steadyNow() + Math.max(0, ms);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.#wakers.add(wake);
    });
  }

  // How many items there is room for: the slots and the prefetch buffer, but never more than the pacer
  // can start before their leases would run out (each needs time for its request within the lease).
  #leaseRoom(): number {
    let room = this.concurrency + this.#prefetch - this.#running.size - this.#buffer.length;
    if (this.#pacer.intervalMs > 0) {
      const budget = this.#leaseMs - this.#options.config.timeoutMs - this.#pacer.delayMs();
      room = Math.min(room, Math.floor(budget / this.#pacer.intervalMs) + 1 - this.#buffer.length);
    }
    return Math.max(0, room);
  }

  // Whether a lease is worth its commit: the buffer can no longer give every slot its next item (so the
  // lease is taken while requests are in flight, not while slots wait for it), and there is room for a
  // useful batch — or the buffer is empty and any item helps.
  #leaseWanted(room: number): boolean {
    if (room === 0 || steadyNow() < this.#nextLeaseAt) return false;
    return this.#buffer.length === 0 || (this.#buffer.length < this.concurrency && room >= this.#prefetch - this.concurrency);
  }

  async #finished(): Promise<boolean> {
    if (this.#options.once) return true;
    if (this.#options.callIds) {
      const states = await this.#store.states(this.#options.callIds);
      for (const state of states.values()) if (state === 'pending' || state === 'in_flight') return false;
      return true;
    }
    return (await this.#store.nextDueAt()) === null;
  }

  /** After a short lease: when a lease can next find something (see `#nextLeaseAt`). */
  async #nextDue(): Promise<number> {
    const now = steadyNow();
    // Restricted to this worker's calls: another process's due items must not wake it up (it cannot
    // take them), and the query costs the same however long the outbox's history is.
    const next = await this.#store.nextDueAt(this.#leaseIds === undefined ? {} : { callIds: this.#leaseIds });
    if (next === null) return now + IDLE_POLL_MS; // new enqueues are only seen by looking
    if (next <= now) return now + RECHECK_MS;
    return Math.min(next, now + IDLE_POLL_MS);
  }

  #deliverContext(signal: AbortSignal, task: { sending: boolean }): DeliverContext {
    return { store: this.#store, client: this.#options.client, pacer: this.#taskPacer(task), settings: this.#settings, signal, probe: this.#options.probe ?? probeAudio, verifier: this.#verifier };
  }

  /**
   * The pacer as one delivery sees it: once its first request is let go, the delivery counts as
   * sending, and a slot may open for the next one to wait for its turn (see `concurrency`); the loop is
   * woken to lease when the buffer runs dry.
   */
  #taskPacer(task: { sending: boolean }): Pacer {
    const pacer = this.#pacer;
    if (pacer.intervalMs === 0 || this.#maxConcurrency === this.#baseConcurrency) return pacer;
    return {
      intervalMs: pacer.intervalMs,
      delayMs: () => pacer.delayMs(),
      holdFor: (ms) => pacer.holdFor(ms),
      acquire: async (signal, maxWaitMs) => {
        if (!(await pacer.acquire(signal, maxWaitMs))) return false;
        if (task.sending) return true;
        task.sending = true;
        this.#sending += 1;
        this.startBuffered();
        if (this.#buffer.length < this.concurrency) this.wake();
        return true;
      },
    };
  }

  #committed(batch: readonly PendingSettlement[]): void {
    for (const { settlement, item } of batch) {
      try {
        this.#options.onSettled?.(settlement, item);
      } catch (err) {
        // A caller's callback failing must not be mistaken for the outcomes not being recorded.
        this.#log.error({ callId: item.callId, err: errorText(err) }, 'onSettled callback failed');
      }
    }
  }

  #logAttempt(item: OutboxItem, report: AttemptReport): void {
    const s = report.settlement;
    const line = {
      callId: item.callId,
      attempt: item.attempts + 1,
      step: report.step,
      status: report.status,
      durationMs: report.durationMs,
      outcome: s.kind,
      ...(s.kind === 'retry' || s.kind === 'wait' ? { nextAttemptAt: new Date(s.nextAttemptAt).toISOString() } : {}),
      ...(s.kind === 'delivered' ? {} : { error: s.error }),
      ...(report.recordingNote ? { recordingNote: report.recordingNote } : {}),
    };
    if (s.kind === 'dead') this.#log.warn(line, 'attempt');
    else this.#log.info(line, 'attempt');
  }

  #notifyAttempt(report: AttemptReport, item: OutboxItem): void {
    try {
      this.#options.onAttempt?.(report, item);
    } catch (err) {
      this.#log.error({ callId: item.callId, err: errorText(err) }, 'onAttempt callback failed');
    }
  }

  #count(s: Settlement): void {
    this.summary.attempts += 1;
    if (s.kind === 'delivered') this.summary.delivered += 1;
    else if (s.kind === 'retry') this.summary.retried += 1;
    else if (s.kind === 'wait') this.summary.waited += 1;
    else this.summary.dead += 1;
  }
}

export { deliverCalls, type DeliverySummary } from './deliver-calls.ts';

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
