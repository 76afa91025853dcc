/**
 * Delivery benchmark (issue 5, "Done when"): calls per second through the outbox and the worker against
 * the local CRM at 20 ms latency, with concurrency 16 and pacing off, beside a sequential
 * one-connection baseline measured in the same run. Goal: ≥ 85% of concurrency ÷ latency
 * (16 / 0.02 s = 800 calls/s, so ≥ 680 calls/s). Run alone with `node bench/delivery.ts`.
 *
 * The CRM runs in its own process so that its work does not share the worker's event loop; the outbox
 * lives under `.crm-upload/` in the current directory, the disk the real outbox uses.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHttpCrmClient } from '../src/crm/http-crm-client.ts';
import type { NewOutboxItem } from '../src/outbox/outbox-store.ts';
import { openSqliteOutbox } from '../src/outbox/sqlite-outbox-store.ts';
import { startWorker, type WorkerConfig } from '../src/worker/worker.ts';
import { crmAdmin, spawnLocalCrmProcess } from '../test/helpers/local-crm.ts';
import { makePayload } from '../test/helpers/payloads.ts';

/** What `measureDelivery` varies. */
export interface DeliveryBenchOptions {
  /** Latency the local CRM adds to every answer (default 20 ms). */
  latencyMs?: number;
  /** Concurrency of the measured worker (default 16). */
  concurrency?: number;
  /** Calls of the sequential baseline (default 100). */
  baselineCalls?: number;
  /** Calls of the concurrent run (default 2000). */
  calls?: number;
  /** Folder for the temporary outboxes (default: a fresh folder under `./.crm-upload/`). */
  dir?: string;
}

/** One measured run. */
export interface DeliveryRun {
  concurrency: number;
  calls: number;
  seconds: number;
  callsPerSecond: number;
}

/** The figures `benchDelivery` prints. */
export interface DeliveryBenchResult {
  latencyMs: number;
  baseline: DeliveryRun;
  worker: DeliveryRun;
  /**
   * The same calls posted by the bare HTTP client, `concurrency` loops, no outbox: the ceiling this
   * machine and local CRM allow, to tell the worker's own overhead from the server's.
   */
  clientOnly: DeliveryRun;
  /** concurrency ÷ latency: what a perfect client would reach. */
  idealCallsPerSecond: number;
  /** 85% of the ideal. */
  goalCallsPerSecond: number;
  /**
   * How long the local CRM really takes to answer one request (median of sequential requests on an idle
   * connection): its timer fires a little after `latencyMs`, so a perfect client reaches concurrency ÷
   * this, not concurrency ÷ latencyMs.
   */
  measuredLatencyMs: number;
}

/** Run both measurements against one local CRM process and return the figures. */
export async function measureDelivery(options: DeliveryBenchOptions = {}): Promise<DeliveryBenchResult> {
  const latencyMs = options.latencyMs ?? 20;
  const concurrency = options.concurrency ?? 16;
  const parent = options.dir ?? join(process.cwd(), '.crm-upload');
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'bench-delivery-'));
  const crm = await spawnLocalCrmProcess(['--latency-ms', String(latencyMs)]);
  try {
    // Warm-up: JIT, sockets, the CRM's first allocations; not part of either figure.
    await runOnce(crm.url, join(dir, 'warm.db'), 4, 200, 900_000);
    await crmAdmin(crm.url).reset();
    const baseline = await runOnce(crm.url, join(dir, 'baseline.db'), 1, options.baselineCalls ?? 100, 0);
    await crmAdmin(crm.url).reset();
    const worker = await runOnce(crm.url, join(dir, 'worker.db'), concurrency, options.calls ?? 2000, 100_000);
    await crmAdmin(crm.url).reset();
    const clientOnly = await runClientOnly(crm.url, concurrency, options.calls ?? 2000, 200_000);
    const measuredLatencyMs = await measureLatency(crm.url, 300_000);
    const ideal = concurrency / (latencyMs / 1000);
    return { latencyMs, baseline, worker, clientOnly, idealCallsPerSecond: ideal, goalCallsPerSecond: ideal * 0.85, measuredLatencyMs };
  } finally {
    await crm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Enqueue `calls` payloads, then time one worker delivering them all with `concurrency` connections. */
async function runOnce(origin: string, dbPath: string, concurrency: number, calls: number, firstIndex: number): Promise<DeliveryRun> {
  const store = openSqliteOutbox(dbPath);
  const config: WorkerConfig = {
    timeoutMs: 10_000,
    rateLimit: 0,
    concurrency,
    maxAttempts: 10,
    retryScheduleMs: [100],
    recordingWaitMs: 1_000,
  };
  const client = createHttpCrmClient({
    apiUrl: `${origin}/apis/api/public/call-data`,
    uploadUrl: `${origin}/apis/api/public/upload`,
    timeoutMs: config.timeoutMs,
    connections: concurrency,
  });
  try {
    const items: NewOutboxItem[] = Array.from({ length: calls }, (_, k) => {
      const payload = makePayload(firstIndex + k);
      return { callId: payload.callDetails.callId, payload, recordingPath: null };
    });
    await store.enqueueMany(items);
    const t0 = performance.now();
    const summary = await startWorker({ store, client, config, once: true }).done;
    const seconds = (performance.now() - t0) / 1000;
    if (summary.delivered !== calls) throw new Error(`only ${summary.delivered} of ${calls} calls delivered: ${JSON.stringify(summary)}`);
    return { concurrency, calls, seconds, callsPerSecond: calls / seconds };
  } finally {
    await client.close();
    await store.close();
  }
}

/** Post `calls` payloads with the bare client from `concurrency` loops (no outbox, no worker). */
async function runClientOnly(origin: string, concurrency: number, calls: number, firstIndex: number): Promise<DeliveryRun> {
  const client = createHttpCrmClient({
    apiUrl: `${origin}/apis/api/public/call-data`,
    uploadUrl: `${origin}/apis/api/public/upload`,
    timeoutMs: 10_000,
    connections: concurrency,
  });
  const payloads = Array.from({ length: calls }, (_, k) => makePayload(firstIndex + k));
  let next = 0;
  try {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let p = payloads[next++]; p !== undefined; p = payloads[next++]) {
          const r = await client.postCallData(p, { idempotencyKey: `bench:${p.callDetails.callId}` });
          if (r.kind !== 'response' || r.status !== 201) throw new Error(`bench POST failed: ${JSON.stringify(r)}`);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { concurrency, calls, seconds, callsPerSecond: calls / seconds };
  } finally {
    await client.close();
  }
}

/** Median time of one call-data POST on an idle connection, ms. */
async function measureLatency(origin: string, firstIndex: number): Promise<number> {
  const client = createHttpCrmClient({
    apiUrl: `${origin}/apis/api/public/call-data`,
    uploadUrl: `${origin}/apis/api/public/upload`,
    timeoutMs: 10_000,
    connections: 1,
  });
  const times: number[] = [];
  try {
    for (let k = 0; k < 60; k++) {
      const p = makePayload(firstIndex + k);
      const t0 = performance.now();
      await client.postCallData(p, { idempotencyKey: `bench-latency:${p.callDetails.callId}` });
      times.push(performance.now() - t0);
    }
  } finally {
    await client.close();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

/** Print the delivery figures for `npm run bench`. */
export async function benchDelivery(options: DeliveryBenchOptions = {}): Promise<void> {
  const r = await measureDelivery(options);
  const line = (name: string, run: DeliveryRun): string =>
    `  ${name.padEnd(26)} ${String(run.calls).padStart(5)} calls in ${run.seconds.toFixed(2)} s = ${run.callsPerSecond.toFixed(0)} calls/s`;
  const meets = r.worker.callsPerSecond >= r.goalCallsPerSecond ? 'meets' : 'MISSES';
  console.log(`delivery through the outbox and worker, local CRM at ${r.latencyMs} ms latency, rate limit off:`);
  console.log(line('sequential (1 connection)', r.baseline));
  console.log(line(`worker (concurrency ${r.worker.concurrency})`, r.worker));
  console.log(line(`bare client (${r.clientOnly.concurrency} loops)`, r.clientOnly) + '  (ceiling: no outbox)');
  console.log(
    `  ${(r.worker.callsPerSecond / r.baseline.callsPerSecond).toFixed(1)}× the baseline; ` +
      `${((100 * r.worker.callsPerSecond) / r.idealCallsPerSecond).toFixed(0)}% of ${r.worker.concurrency}/${r.latencyMs / 1000} s = ${r.idealCallsPerSecond.toFixed(0)} calls/s ` +
      `(${meets} the ≥ ${r.goalCallsPerSecond.toFixed(0)} calls/s goal); ` +
      `${((100 * r.worker.callsPerSecond) / r.clientOnly.callsPerSecond).toFixed(0)}% of the bare client`,
  );
  const measuredIdeal = r.worker.concurrency / (r.measuredLatencyMs / 1000);
  console.log(
    `  the local CRM answers one request in ${r.measuredLatencyMs.toFixed(2)} ms (its ${r.latencyMs} ms timer fires late): ` +
      `${((100 * r.worker.callsPerSecond) / measuredIdeal).toFixed(0)}% of ${r.worker.concurrency}/${(r.measuredLatencyMs / 1000).toFixed(4)} s = ${measuredIdeal.toFixed(0)} calls/s`,
  );
}

if (import.meta.main) await benchDelivery();
