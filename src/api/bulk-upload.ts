/**
 * Every call in a set of folders (`crm-upload bulk`, `bulkUploadFromDirectory`): scan and match, build
 * and validate each payload one call at a time, enqueue in batches (idempotent by callId, so a call
 * already delivered is skipped), and deliver through the worker until everything is delivered or dead
 * or `maxWaitMs` passes. An interrupted run resumes where it stopped: the outbox remembers.
 *
 * Matching needs every call of the run, so delivery cannot start before the scan ends; but it starts
 * with the first enqueued batch, and runs while the rest is prepared — when the outbox held nothing
 * else to deliver. Otherwise (calls left by an earlier run, or queued by others) the run enqueues
 * everything first and then delivers, restricted to its own calls when others are queued.
 */
import { resolve } from 'node:path';
import { planRun, type RunCalls } from '../bulk/plan-run.ts';
import { emptySummary, type BulkSummary } from '../bulk/summary.ts';
import { yielder } from '../bulk/yielder.ts';
import { defaultPlanDir } from '../config/recording-folders.ts';
import type { Config } from '../config/config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { NewOutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';
import { countStates, type CallsOutcome } from '../worker/deliver-calls.ts';
import { buildPayload } from '../payload/build-payload.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { assertValidPayload, callDataValidator } from '../payload/validate-payload.ts';
import type { WorkerHandle } from '../worker/worker.ts';
import { openDelivery, type DeliverySession } from '../delivery/open-delivery.ts';
import { DEFAULT_MAX_WAIT_MS } from './upload-call.ts';

/** Progress of a bulk run, for a progress bar or periodic lines. */
export interface BulkProgress {
  phase: 'scan' | 'enqueue' | 'deliver';
  /** Files read (scan), calls prepared (enqueue) or calls settled for good (deliver). */
  done: number;
  /** Known only in the enqueue and deliver phases. */
  total: number | null;
}

/** Options of a bulk run. Folders default to the configured ones. */
export interface BulkOptions {
  config: Config;
  leadsDir?: string | null;
  recordingsDir?: string | null;
  manifestsDir?: string | null;
  /** Only calls that start at or after this time (epoch ms). */
  since?: number | null;
  /** Only calls that start at or before this time (epoch ms). */
  until?: number | null;
  /** Deliveries at once; default `config.concurrency`. */
  concurrency?: number;
  /** How long to keep delivering; default 2 minutes. Calls still pending then stay for the worker. */
  maxWaitMs?: number;
  /** Build and validate every payload, hand each to `onPayload`, and send nothing. */
  dryRun?: boolean;
  onPayload?: (payload: CallPayload) => void;
  onProgress?: (progress: BulkProgress) => void;
  /** Called for each matching warning (ambiguous or unmatched lead, …). */
  onWarning?: (warning: { code: string; message: string; files: string[] }) => void;
  store?: OutboxStore;
  logger?: Logger;
  /**
   * Interrupts the run (Ctrl-C in the CLI): no more calls are prepared or leased, the requests in flight
   * finish within the worker's grace period and their outcomes are committed, the leases still held are
   * released, and the summary says `interrupted: true`. Running it again resumes.
   */
  signal?: AbortSignal;
}

/** The first batch is small so that delivery starts early; later ones are larger (one commit each). */
const FIRST_BATCH = 32;
const ENQUEUE_BATCH = 256;
/**
 * Calls kept whole from the scan so that small runs read each file once (about this many bytes of
 * memory); the calls beyond it are read again when their payload is built.
 */
const KEEP_BYTES = 6 * 1024 * 1024;
/** While delivering during preparation: how often to check whether others finished the run's calls. */
const DONE_POLL_MS = 250;

/** Deliver every call of the folders; resolves to the summary of `bulk --json`. */
export async function bulkUploadFromDirectory(conversationsDir: string, options: BulkOptions): Promise<BulkSummary> {
  const started = Date.now();
  const { config } = options;
  const summary = emptySummary();
  const pick = (given: string | null | undefined, configured: string | null) => (given === undefined ? configured : given);
  let scanned = 0;
  const plan = await planRun({
    conversationsDir: resolve(config.cwd, conversationsDir),
    leadsDir: pick(options.leadsDir, config.leadsDir),
    recordingsDir: pick(options.recordingsDir, config.recordingsDir),
    manifestsDir: pick(options.manifestsDir, config.manifestsDir),
    sourceTimezone: config.sourceTimezone,
    defaultRegion: config.defaultRegion,
    keepBytes: KEEP_BYTES,
    planDir: defaultPlanDir(config),
    onFile: () => options.onProgress?.({ phase: 'scan', done: ++scanned, total: null }),
  });
  summary.errors.push(...plan.errors);
  summary.skippedFiles = plan.skipped;
  const interrupted = () => options.signal?.aborted === true;
  const wanted = (rangeMs: number) =>
    Number.isNaN(rangeMs)
      ? options.since == null && options.until == null
      : (options.since == null || rangeMs >= options.since) && (options.until == null || rangeMs <= options.until);

  let session: DeliverySession | null = null;
  let delivery: RunDelivery | null = null;
  try {
    // Commits on this thread (docs/architecture.md, "Throughput" → "Bulk memory"): a writer thread is
    // another V8 isolate, SQLite page cache and C-library arena (about 13 MB at 50,000 calls), and a
    // bulk run's commits are few and batched (256 enqueues, 64 outcomes each), so they hold its
    // deliveries for well under a millisecond per batch.
    session = options.dryRun ? null : await openDelivery(config, { ...options, writer: 'inline' });
    // Deliver during preparation only when nothing else is queued: the worker then needs no filter,
    // and everything pending is this run's.
    if (session !== null) {
      const before = await session.store.counts();
      if (before.pending + before.in_flight === 0) delivery = new RunDelivery(session, options, plan.runCalls);
    }
    // The run's calls to deliver: counted when delivering during preparation (the worker's reports and
    // a final look at the outbox tell how each ended), listed otherwise (the worker's filter needs them).
    const toDeliver: string[] = [];
    let deliverCount = 0;
    let batch: NewOutboxItem[] = [];
    let batchSize = FIRST_BATCH;
    const flush = async () => {
      if (session === null || batch.length === 0) return;
      const results = await session.store.enqueueMany(batch);
      batch = [];
      batchSize = ENQUEUE_BATCH;
      const added: string[] = [];
      for (const r of results) {
        if (!r.enqueued && r.state === 'delivered') summary.skipped += 1;
        else if (!r.enqueued && r.state === 'dead') summary.dead += 1;
        else {
          deliverCount += 1;
          if (delivery !== null) added.push(r.callId);
          else toDeliver.push(r.callId);
        }
      }
      delivery?.add(added);
      delivery?.start();
    };
    if (plan.callFiles > 0) callDataValidator(); // compiled once, before the first call is timed
    const pause = yielder();
    const groups = plan.groups;
    for (let k = 0; k < groups && !interrupted(); k++) {
      options.onProgress?.({ phase: 'enqueue', done: k + 1, total: groups });
      try {
        // A call alone out of the run's range is not read again.
        const lone = plan.loneCallTime(k);
        if (lone !== null && !wanted(lone)) {
          plan.release(k);
          continue;
        }
        const group = await plan.prepare(k);
        summary.errors.push(...group.errors);
        summary.unmatchedLeads.push(...group.unmatchedLeads);
        for (const w of group.warnings) options.onWarning?.(w);
        for (const bundle of group.bundles) {
          if (!wanted(Date.parse(bundle.call.startTime ?? bundle.call.endTime ?? ''))) continue;
          try {
            const payload = buildPayload(bundle, config);
            const callId = payload.callDetails.callId;
            assertValidPayload(payload, { file: bundle.call.file, callId });
            if (!plan.addCallId(callId)) {
              summary.errors.push({ file: bundle.call.file, reason: `E_DUPLICATE_CALL: another file of this run has the same callId ${callId}` });
              continue;
            }
            if (options.dryRun) {
              options.onPayload?.(payload);
              deliverCount += 1;
              continue;
            }
            batch.push({ callId, payload, recordingPath: bundle.recording?.file ?? null, sourceFile: bundle.call.file });
            if (batch.length >= batchSize) {
              await flush();
              // Let the deliveries already running handle their answers and start the next ones.
              await new Promise<void>((done) => setImmediate(done));
            }
          } catch (err) {
            summary.errors.push({ file: bundle.call.file, reason: describeError(err) });
          }
        }
      } catch (err) {
        summary.errors.push({ file: plan.firstFile(k), reason: describeError(err) });
      } finally {
        const paused = pause();
        if (paused !== null) await paused;
      }
    }
    if (!interrupted()) await flush();

    if (session !== null && deliverCount > 0) {
      const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
      if (delivery !== null) {
        addOutcome(summary, await delivery.finish(deliverCount, maxWaitMs));
      } else {
        const counts = await session.store.counts();
        // Restrict the worker to this run's calls only when other calls are queued too: the filter costs
        // a lookup of every id on each lease.
        const others = counts.pending + counts.in_flight > toDeliver.length;
        let settled = 0;
        options.onProgress?.({ phase: 'deliver', done: 0, total: toDeliver.length });
        // The one delivery loop (`deliverCalls`), as `send` uses it; its outcome counted by states.
        const outcome = await session.deliverCalls({
          config: { ...config, concurrency: options.concurrency ?? config.concurrency },
          callIds: toDeliver,
          onlyTheseCalls: others,
          perCall: false,
          maxWaitMs,
          ...(options.signal ? { signal: options.signal } : {}),
          onSettled: (s) => {
            if (s.kind === 'delivered' || s.kind === 'dead') options.onProgress?.({ phase: 'deliver', done: ++settled, total: toDeliver.length });
          },
        });
        addOutcome(summary, outcome);
      }
    } else if (session === null) {
      summary.success = 0;
      summary.pending = deliverCount;
    }
  } finally {
    // Normally stopped already by `finish`; after an error, the worker's own failure must not hide it.
    await delivery?.stop().catch(() => undefined);
    await session?.close();
    plan.close();
  }
  summary.interrupted = interrupted();
  summary.failed = summary.errors.length;
  summary.total = summary.success + summary.failed + summary.skipped + summary.pending + summary.dead;
  summary.durationMs = Date.now() - started;
  return summary;
}

/** Count how the run's delivered calls ended into the summary: the one place delivery outcomes are added. */
function addOutcome(summary: BulkSummary, outcome: CallsOutcome): void {
  summary.success += outcome.delivered;
  summary.dead += outcome.dead;
  summary.pending += outcome.pending;
}

/**
 * Delivery that runs while the run is still enqueueing: a worker over the whole outbox (which held
 * nothing else when the run began), started with the first batch. The run is done when each of its
 * calls is delivered or dead — as the worker reports, or, for calls another process delivered, as the
 * outbox shows once nothing is pending or in flight — or when `maxWaitMs` has passed since the last
 * enqueue, as for a worker started after enqueueing.
 */
class RunDelivery {
  readonly #session: DeliverySession;
  readonly #options: BulkOptions;
  /** The run's calls and which are settled: in the plan file, not in memory (a run may enqueue far ahead). */
  readonly #calls: RunCalls;
  /** How many of the run's calls are not yet delivered or dead. */
  #outstanding = 0;
  #handle: WorkerHandle | null = null;
  #ended = false;
  #error: unknown = null;
  #settled = 0;
  #delivered = 0;
  #dead = 0;
  #total: number | null = null;
  #wake: (() => void) | null = null;

  constructor(session: DeliverySession, options: BulkOptions, calls: RunCalls) {
    this.#session = session;
    this.#options = options;
    this.#calls = calls;
  }

  /** Calls of the run now in the outbox, to be delivered. */
  add(callIds: readonly string[]): void {
    this.#outstanding += this.#calls.markToDeliver(callIds);
  }

  /** Start the worker (once), when there is something to deliver. */
  start(): void {
    if (this.#handle !== null || this.#outstanding === 0) return;
    const { config } = this.#options;
    this.#handle = this.#session.startWorker({
      config: { ...config, concurrency: this.#options.concurrency ?? config.concurrency },
      onSettled: (s) => this.#onSettled(s),
    });
    this.#handle.done.then(
      () => this.#end(null),
      (err: unknown) => this.#end(err),
    );
  }

  #onSettled(s: Settlement): void {
    if (s.kind !== 'delivered' && s.kind !== 'dead') return;
    if (!this.#calls.markSettled(s.callId)) return;
    this.#outstanding -= 1;
    this.#settled += 1;
    if (s.kind === 'delivered') this.#delivered += 1;
    else this.#dead += 1;
    if (this.#total !== null) this.#options.onProgress?.({ phase: 'deliver', done: this.#settled, total: this.#total });
    if (this.#outstanding === 0) this.#wake?.();
  }

  #end(err: unknown): void {
    this.#ended = true;
    this.#error ??= err;
    this.#wake?.();
  }

  /**
   * Everything is enqueued: wait until the run's calls are done or `maxWaitMs` passes, stop the worker,
   * and tell how the run's calls ended (those the worker did not report, as the outbox has them).
   */
  async finish(total: number, maxWaitMs: number): Promise<CallsOutcome> {
    this.#total = total;
    this.#options.onProgress?.({ phase: 'deliver', done: this.#settled, total });
    const deadline = Date.now() + maxWaitMs;
    const signal = this.#options.signal;
    const aborted = () => signal?.aborted === true;
    const onAbort = () => this.#wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    while (this.#outstanding > 0 && !this.#ended && !aborted()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((done) => {
        const timer = setTimeout(() => this.#wake?.(), Math.min(left, DONE_POLL_MS));
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = null;
          done();
        };
      });
      if (this.#outstanding === 0 || this.#ended || aborted()) break;
      const counts = await this.#session.store.counts();
      if (counts.pending + counts.in_flight === 0) break;
    }
    signal?.removeEventListener('abort', onAbort);
    await this.stop();
    const rest: CallsOutcome = { delivered: 0, dead: 0, pending: 0 };
    for (const ids of this.#calls.unsettled()) {
      const counted = await countStates(this.#session.store, ids);
      rest.delivered += counted.delivered;
      rest.dead += counted.dead;
      rest.pending += counted.pending;
    }
    this.#outstanding = 0;
    return { delivered: this.#delivered + rest.delivered, dead: this.#dead + rest.dead, pending: rest.pending };
  }

  /** Stop the worker (in-flight requests finish within its grace period); rethrow what ended it. */
  async stop(): Promise<void> {
    if (this.#handle === null) return;
    await this.#handle.stop();
    if (this.#error !== null) {
      const err = this.#error;
      this.#error = null;
      throw err;
    }
  }
}
