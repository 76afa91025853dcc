/**
 * The delivery worker (docs/architecture.md, "Delivery"): leases due items in batches, runs up to `concurrency`
 * deliveries at once, records outcomes in small batched transactions, and sleeps until the next item is
 * due. `send` and `bulk` use the same worker through `deliverCalls`, so there is one delivery path.
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
import { probeAudio } from '../ingest/audio.ts';
import type { CrmClient } from '../crm/crm-client.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { OutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';
import { deliverItem, failedAttempt, type AttemptReport, type DeliverContext } from './deliver-item.ts';
import type { Pacer } from '../pacing/pacer.ts';
import type { RetryPolicy } from '../policy/retry-policy.ts';
import { pacerFor } from './pacer-for.ts';
import type { AudioFigures } from './recording-step.ts';
import { createSettleBatcher, type PendingSettlement } from './settle-batch.ts';

/** The configuration the worker reads. */
export type WorkerConfig = Pick<Config, 'timeoutMs' | 'rateLimit' | 'concurrency' | 'maxAttempts' | 'retryScheduleMs' | 'recordingWaitMs'>;

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
}

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

/** Longest sleep when nothing is due, so that expired leases of crashed workers are picked up soon. */
export const IDLE_POLL_MS = 250;

/**
 * How long an outcome may wait for a lease to carry it before it is committed on its own (with a
 * top-up lease). Longer than the gap between leases at full speed (a batch of 2 × 16 items at ≥ 680
 * calls/s is ~47 ms), so that every outcome rides along with a lease; short enough that `status` and
 * progress callbacks still look immediate. When nothing is running, outcomes are written at once.
 * Only visibility depends on it: an outcome lost in a crash means a re-send with the same key.
 */
export const SETTLE_FLUSH_MS = 100;

// After a lease found nothing more and the outbox says something is due already (it turned due, or was
// enqueued, after the lease's snapshot), look again this soon rather than at once, so that an item this
// worker cannot take can never make it spin.
const RECHECK_MS = 20;

/** How long a lease lasts: twice the request timeout, at least 1 s (docs/architecture.md, "Outbox"). */
export function leaseDurationMs(timeoutMs: number): number {
  return Math.max(2 * timeoutMs, 1_000);
}

/** Start delivering. Errors of the store end the worker: `done` rejects after a clean shutdown. */
export function startWorker(options: WorkerOptions): WorkerHandle {
  const { store, client, config } = options;
  const log = options.logger ?? silentLogger();
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const pacer = options.pacer ?? pacerFor(store, config.rateLimit);
  const settings = { retryPolicy: options.retryPolicy ?? retryPolicyOf(config), recordingWaitMs: config.recordingWaitMs, timeoutMs: config.timeoutMs };
  // A store that can pick leases only the calls asked for; a shared queue hands out whatever is due, and
  // this worker then delivers those too until its own calls are final (`finished`).
  const leaseIds = store.capabilities.selectiveLease ? options.callIds : undefined;
  const leaseMs = leaseDurationMs(config.timeoutMs);
  const concurrency = Math.max(1, config.concurrency);
  // Items leased ahead of a free slot, so that a finished delivery is replaced at once and one lease (a
  // commit, which blocks the event loop) serves two rounds of slots. When the slots are stuck on slow
  // requests a buffered item can wait longer than its lease allows; `pump` then gives it back rather
  // than start an attempt that might outlive its lease.
  const prefetch = 4 * concurrency;
  const graceMs = options.graceMs ?? 10_000;
  const started = performance.now();
  const summary: WorkerSummary = { attempts: 0, delivered: 0, retried: 0, waited: 0, dead: 0, released: 0, durationMs: 0 };

  const running = new Map<string, AbortController>();
  const tasks = new Set<Promise<void>>();
  const buffer: OutboxItem[] = [];
  const toRelease: string[] = [];
  // Buffered items whose lease ran too short to start them; released by the loop.
  const stale: string[] = [];
  let stopping = false;
  const probe = options.probe ?? probeAudio;

  // The earliest time (epoch ms) a lease can find something due. A lease that comes back short has
  // taken everything due, so until then the loop does not lease again on its own (each try would be a
  // commit); outcomes still ride along with leases when they have to be written anyway. Lowered by this
  // worker's own retries and waits.
  let nextLeaseAt = 0;

  const batcher = createSettleBatcher({
    store,
    owner,
    flushMs: SETTLE_FLUSH_MS,
    // The loop writes every batch itself, with the next lease when there is room for one.
    onDue: () => poke(),
    onCommitted(batch: readonly PendingSettlement[]) {
      for (const { settlement, item } of batch) {
        try {
          options.onSettled?.(settlement, item);
        } catch (err) {
          // A caller's callback failing must not be mistaken for the outcomes not being recorded.
          log.error({ callId: item.callId, err: errorText(err) }, 'onSettled callback failed');
        }
      }
    },
    onError(err) {
      // The leases run out and the items go out again under the same keys; nothing is lost.
      log.error({ err: errorText(err) }, 'could not record outcomes; the items will be retried when their leases expire');
    },
  });

  /** Gather an outcome; a retry or wait makes its item due again, so lease again by then. */
  function record(settlement: Settlement, item: OutboxItem): void {
    if (settlement.kind === 'retry' || settlement.kind === 'wait') nextLeaseAt = Math.min(nextLeaseAt, settlement.nextAttemptAt);
    // The CRM refuses every request alike while it rate-limits us: hold them all (on every host, with a
    // shared pacer), not only this one, until its Retry-After is over.
    if (settlement.kind === 'wait' && settlement.status === 429) pacer.holdFor(settlement.nextAttemptAt - Date.now());
    batcher.add(settlement, item);
  }

  // Sleeps that a finished delivery, a committed batch or stop() can cut short.
  const wakers = new Set<() => void>();
  function poke(): void {
    for (const wake of [...wakers]) wake();
  }
  function nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      wakers.add(wake);
    });
  }

  const deliverContext = (signal: AbortSignal): DeliverContext => ({
    store,
    client,
    pacer,
    settings,
    signal,
    probe,
  });

  function logAttempt(item: OutboxItem, report: AttemptReport): void {
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
    if (s.kind === 'dead') log.warn(line, 'attempt');
    else log.info(line, 'attempt');
  }

  function notifyAttempt(report: AttemptReport, item: OutboxItem): void {
    try {
      options.onAttempt?.(report, item);
    } catch (err) {
      log.error({ callId: item.callId, err: errorText(err) }, 'onAttempt callback failed');
    }
  }

  function count(s: Settlement): void {
    summary.attempts += 1;
    if (s.kind === 'delivered') summary.delivered += 1;
    else if (s.kind === 'retry') summary.retried += 1;
    else if (s.kind === 'wait') summary.waited += 1;
    else summary.dead += 1;
  }

  async function runItem(item: OutboxItem, controller: AbortController): Promise<void> {
    try {
      const report = await deliverItem(item, deliverContext(controller.signal));
      const kind = report.settlement.kind;
      // An answer that arrived is kept even after an abort; an attempt cut short goes back untouched.
      if (controller.signal.aborted && kind !== 'delivered' && kind !== 'dead') {
        toRelease.push(item.callId);
      } else {
        logAttempt(item, report);
        count(report.settlement);
        notifyAttempt(report, item);
        record(report.settlement, item);
      }
    } catch (err) {
      if (controller.signal.aborted) {
        toRelease.push(item.callId);
      } else {
        const settlement = failedAttempt(item, `internal: ${errorText(err)}`, { settings });
        log.error({ callId: item.callId, attempt: item.attempts + 1, err: errorText(err), outcome: settlement.kind }, 'attempt');
        count(settlement);
        record(settlement, item);
      }
    } finally {
      running.delete(item.callId);
      pump();
      poke();
    }
  }

  // Start buffered items while slots are free.
  function pump(): void {
    while (!stopping && running.size < concurrency) {
      const item = buffer.shift();
      if (item === undefined) return;
      // An attempt needs up to a request timeout; started later than that before its lease ends, it
      // could still be running when another worker takes the item over and sends it too.
      if (item.leaseUntil !== null && item.leaseUntil - Date.now() < config.timeoutMs) {
        stale.push(item.callId);
        continue;
      }
      const controller = new AbortController();
      running.set(item.callId, controller);
      const task = runItem(item, controller);
      tasks.add(task);
      void task.finally(() => tasks.delete(task));
    }
  }

  // How many items there is room for: the slots and the prefetch buffer, but never more than the pacer
  // can start before their leases would run out (each needs time for its request within the lease).
  function leaseRoom(): number {
    let room = concurrency + prefetch - running.size - buffer.length;
    if (pacer.intervalMs > 0) {
      const budget = leaseMs - config.timeoutMs - pacer.delayMs();
      room = Math.min(room, Math.floor(budget / pacer.intervalMs) + 1 - buffer.length);
    }
    return Math.max(0, room);
  }

  async function finished(): Promise<boolean> {
    if (options.once) return true;
    if (options.callIds) {
      const states = await store.states(options.callIds);
      for (const state of states.values()) if (state === 'pending' || state === 'in_flight') return false;
      return true;
    }
    return (await store.nextDueAt()) === null;
  }

  /** After a short lease: when a lease can next find something (see `nextLeaseAt`). */
  async function nextDue(): Promise<number> {
    const now = Date.now();
    // Restricted to this worker's calls: another process's due items must not wake it up (it cannot
    // take them), and the query costs the same however long the outbox's history is.
    const next = await store.nextDueAt(leaseIds === undefined ? {} : { callIds: leaseIds });
    if (next === null) return now + IDLE_POLL_MS; // new enqueues are only seen by looking
    if (next <= now) return now + RECHECK_MS;
    return Math.min(next, now + IDLE_POLL_MS);
  }

  // Whether a lease is worth its commit: the buffer can no longer give every slot its next item (so
  // the lease is taken while requests are in flight, not while slots wait for it), and there is room
  // for a useful batch — or the buffer is empty and any item helps.
  function leaseWanted(room: number): boolean {
    if (room === 0 || Date.now() < nextLeaseAt) return false;
    return buffer.length === 0 || (buffer.length < concurrency && room >= prefetch - concurrency);
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      if (stale.length > 0) {
        // Rare (the slots were stuck for a whole request timeout): due again at once, for a fresh lease.
        await store.release(owner, stale.splice(0));
        nextLeaseAt = 0;
      }
      const idle = running.size === 0 && buffer.length === 0;
      // Outcomes are written with the next lease, or on their own once they have waited long enough,
      // or before an idle check.
      if (leaseWanted(leaseRoom()) || (batcher.size > 0 && (batcher.due || idle))) {
        // The commit blocks the event loop: let the answers that have already arrived be handled (and
        // their slots refilled from the buffer) first, rather than keep them waiting behind it.
        if (!idle) await yieldToIo();
        if (stopping) break;
        // One transaction: the outcomes, then whatever room there is (a top-up costs nothing extra).
        const room = leaseRoom();
        const items = await batcher.flushAndLease({ limit: room, leaseMs, callIds: leaseIds });
        buffer.push(...items);
        pump();
        if (stopping) break;
        if (room > 0) nextLeaseAt = items.length < room ? await nextDue() : 0;
        continue;
      }
      const room = leaseRoom();
      if (idle && room > 0) {
        // Nothing running, nothing gathered, and the last lease found nothing more due now.
        if ((options.once || options.idleExit) && (await finished())) break;
        await nap(nextLeaseAt - Date.now());
      } else if (idle) {
        // The pacer is booked further ahead than a lease lasts (a shared pacer, or a very low limit).
        await nap(Math.min(IDLE_POLL_MS * 4, pacer.delayMs()));
      } else if (room > 0 && Date.now() < nextLeaseAt) {
        // Slots are free but nothing more is due before nextLeaseAt; a finished delivery or a due
        // batch of outcomes wakes the loop sooner.
        await nap(nextLeaseAt - Date.now());
      } else {
        // Busy: a finished delivery or a due batch of outcomes wakes the loop.
        await nap(IDLE_POLL_MS * 4);
      }
    }
  }

  async function shutdown(): Promise<void> {
    stopping = true;
    toRelease.push(...buffer.splice(0).map((i) => i.callId));
    if (tasks.size > 0) {
      // Not nap(): a delivery finishing would cut it short.
      let graceTimer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, graceMs)));
      await Promise.race([Promise.allSettled([...tasks]), grace]);
      clearTimeout(graceTimer);
      for (const controller of running.values()) controller.abort(new Error('worker stopping'));
      await Promise.allSettled([...tasks]);
    }
    await batcher.flush();
    if (toRelease.length > 0) {
      const ids = toRelease.splice(0);
      await store.release(owner, ids);
      summary.released += ids.length;
    }
  }

  const done = (async (): Promise<WorkerSummary> => {
    let failure: unknown = null;
    try {
      await loop();
    } catch (err) {
      failure = err;
    }
    await shutdown();
    summary.durationMs = Math.round(performance.now() - started);
    if (failure !== null) throw failure;
    return summary;
  })();

  let stopped: Promise<void> | null = null;
  return {
    done,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        poke();
        await done.then(
          () => undefined,
          () => undefined,
        );
      })();
      return stopped;
    },
  };
}

/** What `deliverCalls` reports. */
export interface DeliverySummary {
  delivered: number;
  dead: number;
  /** Still pending or in flight when the wait ended: the worker delivers them later. */
  pending: number;
  /** The final state of each listed call found in the outbox. */
  perCall: Map<string, OutboxItem>;
  worker: WorkerSummary;
}

/**
 * Deliver the listed calls now (what `send` and `bulk` do): keep going until each is delivered or dead
 * — including items a crashed process left leased, once their lease expires — or `maxWaitMs` passes.
 */
export async function deliverCalls(options: WorkerOptions & { callIds: readonly string[]; maxWaitMs: number }): Promise<DeliverySummary> {
  const handle = startWorker({ ...options, idleExit: true, once: false });
  const timer = setTimeout(() => void handle.stop(), options.maxWaitMs);
  let worker: WorkerSummary;
  try {
    worker = await handle.done;
  } finally {
    clearTimeout(timer);
  }
  const summary: DeliverySummary = { delivered: 0, dead: 0, pending: 0, perCall: new Map(), worker };
  for (const callId of new Set(options.callIds)) {
    const item = await options.store.get(callId);
    if (item === null) continue;
    summary.perCall.set(callId, item);
    if (item.state === 'delivered') summary.delivered += 1;
    else if (item.state === 'dead') summary.dead += 1;
    else summary.pending += 1;
  }
  return summary;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
