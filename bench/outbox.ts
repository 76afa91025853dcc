/**
 * Outbox benchmark (docs/architecture.md, "Throughput"; issue 5, "Done when"): the latency of a single durable
 * enqueue — what a call process pays when it hangs up (goal p99 ≤ 5 ms) — and how fast a worker can
 * lease and settle items in batches. Run alone with `node bench/outbox.ts`.
 *
 * The file lives under `.crm-upload/` in the current directory by default, the disk the real outbox
 * uses: a tmpfs /tmp would make fsync free and the figures meaningless.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { OutboxStore, Settlement } from '../src/outbox/outbox-store.ts';
import { openSqliteOutbox } from '../src/outbox/sqlite-outbox-store.ts';
import { sampleItem } from '../test/outbox/sample-item.ts';

/** What `measureOutbox` varies. */
export interface OutboxBenchOptions {
  /** Folder for the temporary database (default: a fresh folder under `./.crm-upload/`). */
  dir?: string;
  /** Single enqueues timed one by one (default 2000). */
  enqueues?: number;
  /** Items drained by lease + settle (default 20000). */
  drainItems?: number;
  /** Items per lease and per settle transaction (default 32, twice the default concurrency). */
  batch?: number;
}

/** Latency summary in milliseconds. */
export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** The figures `benchOutbox` prints. */
export interface OutboxBenchResult {
  enqueue: LatencySummary & { count: number };
  drain: { items: number; batch: number; itemsPerSecond: number; lease: LatencySummary; settle: LatencySummary };
}

/** Run the outbox measurements and return the figures (the database is removed afterwards). */
export async function measureOutbox(options: OutboxBenchOptions = {}): Promise<OutboxBenchResult> {
  const enqueues = options.enqueues ?? 2000;
  const drainItems = options.drainItems ?? 20_000;
  const batch = options.batch ?? 32;
  const parent = options.dir ?? join(process.cwd(), '.crm-upload');
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'bench-outbox-'));
  const store = openSqliteOutbox(join(dir, 'outbox.db'));
  try {
    // Warm-up: JIT, prepared statements and the first WAL pages, which are not what a call process pays
    // once the outbox exists.
    for (let i = 0; i < 100; i++) await store.enqueue(sampleItem(`WARM-${i}`));

    const enqueueMs: number[] = [];
    for (let i = 0; i < enqueues; i++) {
      const item = sampleItem(`ENQ-${String(i).padStart(6, '0')}`);
      const t0 = performance.now();
      await store.enqueue(item);
      enqueueMs.push(performance.now() - t0);
    }

    for (let i = 0; i < drainItems; i += 1000) {
      const size = Math.min(1000, drainItems - i);
      await store.enqueueMany(Array.from({ length: size }, (_, j) => sampleItem(`DRAIN-${String(i + j).padStart(7, '0')}`)));
    }
    const drain = await drainAll(store, batch);
    return { enqueue: { count: enqueues, ...summarize(enqueueMs) }, drain: { ...drain, batch } };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Print the outbox figures (enqueue latency, lease + settle throughput) for `npm run bench`. */
export async function benchOutbox(options: OutboxBenchOptions = {}): Promise<void> {
  const r = await measureOutbox(options);
  const f = (ms: number): string => `${ms.toFixed(3)} ms`;
  const goal = r.enqueue.p99 <= 5 ? 'meets' : 'MISSES';
  console.log(`outbox enqueue (SQLite, WAL, synchronous=FULL), ${r.enqueue.count} single enqueues:`);
  console.log(`  p50 ${f(r.enqueue.p50)}  p99 ${f(r.enqueue.p99)}  max ${f(r.enqueue.max)}  mean ${f(r.enqueue.mean)}  (${goal} the p99 ≤ 5 ms goal)`);
  console.log(`outbox lease + settle, ${r.drain.items} items in batches of ${r.drain.batch}:`);
  console.log(`  ${Math.round(r.drain.itemsPerSecond)} items/s  lease p50 ${f(r.drain.lease.p50)} p99 ${f(r.drain.lease.p99)}  settle p50 ${f(r.drain.settle.p50)} p99 ${f(r.drain.settle.p99)}`);
}

async function drainAll(store: OutboxStore, batch: number): Promise<{ items: number; itemsPerSecond: number; lease: LatencySummary; settle: LatencySummary }> {
  const leaseMs: number[] = [];
  const settleMs: number[] = [];
  let items = 0;
  const start = performance.now();
  for (;;) {
    const t0 = performance.now();
    const leased = await store.lease({ limit: batch, leaseMs: 60_000, owner: 'bench' });
    const t1 = performance.now();
    if (leased.length === 0) break;
    leaseMs.push(t1 - t0);
    const outcomes: Settlement[] = leased.map((item) => ({ callId: item.callId, kind: 'delivered', status: 201 }));
    await store.settle('bench', outcomes);
    settleMs.push(performance.now() - t1);
    items += leased.length;
  }
  const seconds = (performance.now() - start) / 1000;
  return { items, itemsPerSecond: items / seconds, lease: summarize(leaseMs), settle: summarize(settleMs) };
}

function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  // Nearest-rank percentile: the value at or below which p% of the samples fall.
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
  const mean = sorted.length === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { p50: at(50), p99: at(99), max: sorted.at(-1) ?? 0, mean };
}

if (import.meta.main) await benchOutbox();
