/**
 * Delivery benchmark (issue 5, "Done when"; issue 16): calls per second through the outbox and the worker
 * against the local CRM at 20 ms latency, with concurrency 16 and pacing off, beside the bare HTTP client
 * posting the same kind of payloads from as many loops, measured in the same run. Goals: the worker
 * ≥ 85% of concurrency ÷ latency (16 / 0.02 s = 800 calls/s, so ≥ 680 calls/s), and ≥ 95% of the bare
 * loop (issue 16). Run alone with `node bench/delivery.ts` (`CRM_BENCH_ROUNDS=N` for more rounds).
 *
 * What keeps the comparison fair: the CRM runs in its own process, so that its work does not share
 * either side's event loop; both sides use the same client (`createHttpCrmClient`, the same timeout and
 * `connections: concurrency`, opened cold for each run), the same payload generator and the same number
 * of calls; the CRM's log is reset before every run; and the two alternate over several rounds (worker
 * first in one round, the bare loop first in the next), so that the noise of a shared machine hits both
 * alike. The worker's run counts everything a run of it pays: its first lease, its writer thread coming
 * up, and the commit of its last outcomes. The outbox lives under `.crm-upload/` in the current
 * directory, the disk the real outbox uses.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
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
  /** Rounds of the worker and the bare loop, alternating which goes first (default `CRM_BENCH_ROUNDS` or 5). */
  rounds?: number;
}

/** One measured run. */
export interface DeliveryRun {
  concurrency: number;
  calls: number;
  seconds: number;
  callsPerSecond: number;
}

/** One round: the worker and the bare loop, one right after the other. */
export interface DeliveryRound {
  worker: DeliveryRun;
  clientOnly: DeliveryRun;
  /** Which of the two ran first in this round. */
  workerFirst: boolean;
  /** worker ÷ bare loop, calls per second. */
  ratio: number;
}

/** The figures `benchDelivery` prints. */
export interface DeliveryBenchResult {
  latencyMs: number;
  baseline: DeliveryRun;
  /** Every round, in the order they ran. */
  rounds: DeliveryRound[];
  /** The worker over all rounds: every call over the time of all its runs. */
  worker: DeliveryRun;
  /**
   * The same calls posted by the bare HTTP client, `concurrency` loops, no outbox, over all rounds: the
   * ceiling this machine and local CRM allow, to tell the worker's own overhead from the server's.
   */
  clientOnly: DeliveryRun;
  /** The median of the rounds' worker ÷ bare ratios. */
  medianRatio: number;
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
    const calls = options.calls ?? 2000;
    const roundCount = Math.max(1, options.rounds ?? (Number(process.env.CRM_BENCH_ROUNDS) || 5));
    const rounds: DeliveryRound[] = [];
    for (let r = 0; r < roundCount; r++) {
      // Each run its own range of callIds, so that no run meets calls the CRM has seen.
      const first = 100_000 + 2 * r * calls;
      const runWorker = async (): Promise<DeliveryRun> => {
        await crmAdmin(crm.url).reset();
        return runOnce(crm.url, join(dir, `worker-${r}.db`), concurrency, calls, first);
      };
      const runBare = async (): Promise<DeliveryRun> => {
        await crmAdmin(crm.url).reset();
        return runClientOnly(crm.url, concurrency, calls, first + calls);
      };
      const workerFirst = r % 2 === 0;
      let worker: DeliveryRun;
      let clientOnly: DeliveryRun;
      if (workerFirst) {
        worker = await runWorker();
        clientOnly = await runBare();
      } else {
        clientOnly = await runBare();
        worker = await runWorker();
      }
      rounds.push({ worker, clientOnly, workerFirst, ratio: worker.callsPerSecond / clientOnly.callsPerSecond });
    }
    const measuredLatencyMs = await measureLatency(crm.url, 10_000_000);
    const ideal = concurrency / (latencyMs / 1000);
    const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b);
    return {
      latencyMs,
      baseline,
      rounds,
      worker: total(rounds.map((r) => r.worker)),
      clientOnly: total(rounds.map((r) => r.clientOnly)),
      medianRatio: median(ratios),
      idealCallsPerSecond: ideal,
      goalCallsPerSecond: ideal * 0.85,
      measuredLatencyMs,
    };
  } finally {
    await crm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every call of `runs` over the time of all of them. */
function total(runs: readonly DeliveryRun[]): DeliveryRun {
  const calls = runs.reduce((n, r) => n + r.calls, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  return { concurrency: runs[0]?.concurrency ?? 0, calls, seconds, callsPerSecond: calls / seconds };
}

/** The median of sorted numbers. */
function median(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
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
  // The worker does more work per call than the bare loop (its commits, its writer thread), so other
  // jobs on the machine cost it more: the load says how far the figures can be compared.
  const loadBefore = loadavg()[0] ?? 0;
  const r = await measureDelivery(options);
  const loadAfter = loadavg()[0] ?? 0;
  const line = (name: string, run: DeliveryRun): string =>
    `  ${name.padEnd(26)} ${String(run.calls).padStart(5)} calls in ${run.seconds.toFixed(2)} s = ${run.callsPerSecond.toFixed(0)} calls/s`;
  const meets = r.worker.callsPerSecond >= r.goalCallsPerSecond ? 'meets' : 'MISSES';
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  console.log(
    `delivery through the outbox and worker, local CRM at ${r.latencyMs} ms latency, rate limit off ` +
      `(load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after):`,
  );
  console.log(line('sequential (1 connection)', r.baseline));
  r.rounds.forEach((round, k) => {
    const runs = [line(`worker (concurrency ${round.worker.concurrency})`, round.worker), line(`bare client (${round.clientOnly.concurrency} loops)`, round.clientOnly)];
    console.log(`  round ${k + 1} (${round.workerFirst ? 'worker first' : 'bare loop first'}): worker ${pct(round.ratio)} of the bare loop`);
    for (const run of round.workerFirst ? runs : runs.reverse()) console.log(`  ${run}`);
  });
  console.log(line(`worker, all ${r.rounds.length} rounds`, r.worker));
  console.log(line('bare client, all rounds', r.clientOnly) + '  (ceiling: no outbox)');
  const ratios = r.rounds.map((x) => x.ratio);
  console.log(
    `  worker ÷ bare loop: median ${pct(r.medianRatio)} of ${r.rounds.length} rounds (${pct(Math.min(...ratios))}–${pct(Math.max(...ratios))}); ` +
      `all rounds ${pct(r.worker.callsPerSecond / r.clientOnly.callsPerSecond)} (goal ≥ 95%)`,
  );
  console.log(
    `  ${(r.worker.callsPerSecond / r.baseline.callsPerSecond).toFixed(1)}× the baseline; ` +
      `${((100 * r.worker.callsPerSecond) / r.idealCallsPerSecond).toFixed(0)}% of ${r.worker.concurrency}/${r.latencyMs / 1000} s = ${r.idealCallsPerSecond.toFixed(0)} calls/s ` +
      `(${meets} the ≥ ${r.goalCallsPerSecond.toFixed(0)} calls/s goal)`,
  );
  const measuredIdeal = r.worker.concurrency / (r.measuredLatencyMs / 1000);
  console.log(
    `  the local CRM answers one request in ${r.measuredLatencyMs.toFixed(2)} ms (its ${r.latencyMs} ms timer fires late): ` +
      `${((100 * r.worker.callsPerSecond) / measuredIdeal).toFixed(0)}% of ${r.worker.concurrency}/${(r.measuredLatencyMs / 1000).toFixed(4)} s = ${measuredIdeal.toFixed(0)} calls/s`,
  );
}

if (import.meta.main) await benchDelivery();
