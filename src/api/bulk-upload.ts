/**
 * Every call in a set of folders (`crm-upload bulk`, `bulkUploadFromDirectory`): scan and match, build
 * and validate each payload one call at a time, enqueue in batches (idempotent by callId, so a call
 * already delivered is skipped), then deliver through the worker until everything is delivered or dead
 * or `maxWaitMs` passes. An interrupted run resumes where it stopped: the outbox remembers.
 */
import { resolve } from 'node:path';
import { collectCalls, hydrateBundle } from '../bulk/collect-calls.ts';
import { emptySummary, type BulkSummary } from '../bulk/summary.ts';
import type { Config } from '../config/config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { NewOutboxItem, OutboxStore } from '../outbox/outbox-store.ts';
import { buildPayload } from '../payload/build-payload.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { assertValidPayload } from '../payload/validate-payload.ts';
import { startWorker } from '../worker/worker.ts';
import { openDelivery } from './delivery-session.ts';
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
}

const ENQUEUE_BATCH = 256;

/** Deliver every call of the folders; resolves to the summary of `bulk --json`. */
export async function bulkUploadFromDirectory(conversationsDir: string, options: BulkOptions): Promise<BulkSummary> {
  const started = Date.now();
  const { config } = options;
  const summary = emptySummary();
  const pick = (given: string | null | undefined, configured: string | null) => (given === undefined ? configured : given);
  let scanned = 0;
  const found = await collectCalls({
    conversationsDir: resolve(config.cwd, conversationsDir),
    leadsDir: pick(options.leadsDir, config.leadsDir),
    recordingsDir: pick(options.recordingsDir, config.recordingsDir),
    manifestsDir: pick(options.manifestsDir, config.manifestsDir),
    sourceTimezone: config.sourceTimezone,
    defaultRegion: config.defaultRegion,
    onFile: () => options.onProgress?.({ phase: 'scan', done: ++scanned, total: null }),
  });
  summary.errors.push(...found.errors);
  summary.unmatchedLeads = found.unmatchedLeads;
  for (const w of found.warnings) options.onWarning?.(w);

  const inRange = found.bundles.filter((b) => {
    const start = Date.parse(b.call.startTime ?? b.call.endTime ?? '');
    if (Number.isNaN(start)) return options.since == null && options.until == null;
    return (options.since == null || start >= options.since) && (options.until == null || start <= options.until);
  });
  found.bundles.length = 0; // let the out-of-range bundles go

  const session = options.dryRun ? null : await openDelivery(config, options);
  try {
    const toDeliver: string[] = [];
    let batch: NewOutboxItem[] = [];
    const flush = async () => {
      if (session === null || batch.length === 0) return;
      const results = await session.store.enqueueMany(batch);
      for (const r of results) {
        if (!r.enqueued && r.state === 'delivered') summary.skipped += 1;
        else if (!r.enqueued && r.state === 'dead') summary.dead += 1;
        else toDeliver.push(r.callId);
      }
      batch = [];
    };
    let prepared = 0;
    const seen = new Set<string>();
    for (const bundle of inRange) {
      options.onProgress?.({ phase: 'enqueue', done: ++prepared, total: inRange.length });
      try {
        const full = await hydrateBundle(bundle, config);
        const payload = buildPayload(full, config);
        const callId = payload.callDetails.callId;
        assertValidPayload(payload, { file: full.call.file, callId });
        if (seen.has(callId)) {
          summary.errors.push({ file: full.call.file, reason: `E_DUPLICATE_CALL: another file of this run has the same callId ${callId}` });
          continue;
        }
        seen.add(callId);
        if (options.dryRun) {
          options.onPayload?.(payload);
          toDeliver.push(callId);
          continue;
        }
        batch.push({ callId, payload, recordingPath: full.recording?.file ?? null, sourceFile: full.call.file });
        if (batch.length >= ENQUEUE_BATCH) await flush();
      } catch (err) {
        summary.errors.push({ file: bundle.call.file, reason: describeError(err) });
      }
    }
    await flush();

    if (session !== null && toDeliver.length > 0) {
      const counts = await session.store.counts();
      // Restrict the worker to this run's calls only when other calls are queued too: the filter costs
      // a lookup of every id on each lease.
      const others = counts.pending + counts.in_flight > toDeliver.length;
      let settled = 0;
      options.onProgress?.({ phase: 'deliver', done: 0, total: toDeliver.length });
      const handle = startWorker({
        store: session.store,
        client: session.client,
        config: { ...config, concurrency: options.concurrency ?? config.concurrency },
        logger: session.logger,
        idleExit: true,
        ...(others ? { callIds: toDeliver } : {}),
        onSettled: (s) => {
          if (s.kind === 'delivered' || s.kind === 'dead') options.onProgress?.({ phase: 'deliver', done: ++settled, total: toDeliver.length });
        },
      });
      const timer = setTimeout(() => void handle.stop(), options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
      try {
        await handle.done;
      } finally {
        clearTimeout(timer);
      }
      const CHUNK = 5_000;
      for (let i = 0; i < toDeliver.length; i += CHUNK) {
        const states = await session.store.states(toDeliver.slice(i, i + CHUNK));
        for (const state of states.values()) {
          if (state === 'delivered') summary.success += 1;
          else if (state === 'dead') summary.dead += 1;
          else summary.pending += 1;
        }
      }
    } else if (session === null) {
      summary.success = 0;
      summary.pending = toDeliver.length;
    }
  } finally {
    await session?.close();
  }
  summary.failed = summary.errors.length;
  summary.total = summary.success + summary.failed + summary.skipped + summary.pending + summary.dead;
  summary.durationMs = Date.now() - started;
  return summary;
}
