/**
 * Throughput and delivery latency over the last hour, in 5-minute buckets, for the dashboard
 * (docs/architecture.md, "dashboard"), both by **delivery time**: a bucket holds the calls delivered in it,
 * whenever they started. A backfill (`bulk` of last month's folders) delivered now shows as what it is,
 * many calls delivered now, with their enqueue → delivered latency.
 *
 * Kept cheap whatever the size of the outbox's history and however many browser tabs poll: the sampler reads
 * the calls delivered in the window with `store.listDeliveredByTime` (indexed by delivery time in both
 * stores, times only, no payloads), in one place on the dashboard's timer, and only when the delivered count
 * moved or the last read is a bucket old, at most every `readEveryMs`. One read takes at most
 * `pageSize × maxPages` calls (20 000 by default, over three hours of the CRM's 100/min); past that the
 * snapshot says `truncated` and the counts are a floor.
 */
import type { DeliveryTimes, OutboxCounts, OutboxStore } from '../outbox/outbox-store.ts';

/** One bucket of the last hour. */
export interface ThroughputBucket {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. The last bucket is the current one and still filling. */
  end: number;
  /** Calls delivered in the bucket (by delivery time). */
  delivered: number;
  /** Enqueue → delivered of the calls delivered in the bucket; null when none. */
  latency: { count: number; p50Ms: number; p95Ms: number; maxMs: number } | null;
}

/** What the dashboard shows of the last hour. */
export interface StatsSnapshot {
  bucketMs: number;
  windowMs: number;
  buckets: ThroughputBucket[];
  /** When the delivered calls were last read; null before the first read. */
  readAt: number | null;
  /** The window held more deliveries than one read takes: the counts are a floor. */
  truncated: boolean;
  /** Why the last sample failed, or null. */
  lastError: string | null;
}

/** Options of `createDeliveryStats`. */
export interface DeliveryStatsOptions {
  /** Default 5 min. */
  bucketMs?: number;
  /** Default 1 h. */
  windowMs?: number;
  /** The delivered calls are re-read at most this often; default 10 s. */
  readEveryMs?: number;
  /** Page size of a read; default 1000. */
  pageSize?: number;
  /** Most pages of one read; default 20. */
  maxPages?: number;
  now?: () => number;
}

/** The sampler: `sample()` on a timer, `snapshot()` when rendering. */
export interface DeliveryStats {
  /** Take a sample (and, when due, re-read the delivered calls); resolves to the counts read. */
  sample(): Promise<OutboxCounts>;
  snapshot(now?: number): StatsSnapshot;
  /** The delivered count of the latest sample, or null before the first. */
  lastDelivered(): number | null;
}

/** Create the sampler over `store`. */
export function createDeliveryStats(store: OutboxStore, options: DeliveryStatsOptions = {}): DeliveryStats {
  const bucketMs = options.bucketMs ?? 5 * 60_000;
  const windowMs = options.windowMs ?? 60 * 60_000;
  const readEveryMs = options.readEveryMs ?? 10_000;
  const pageSize = options.pageSize ?? 1000;
  const maxPages = options.maxPages ?? 20;
  const now = options.now ?? Date.now;

  let deliveries: DeliveryTimes[] = [];
  let readAt: number | null = null;
  let readCount: number | null = null;
  let truncated = false;
  let lastCount: number | null = null;
  let lastError: string | null = null;
  let inProgress: Promise<OutboxCounts> | null = null;

  /** The calls delivered since the start of the window's first bucket (which can begin up to a bucket before it). */
  async function readDeliveries(t: number): Promise<void> {
    const from = Math.floor(t / bucketMs) * bucketMs + bucketMs - Math.round(windowMs / bucketMs) * bucketMs;
    const next: DeliveryTimes[] = [];
    let full = false;
    for (let page = 0; page < maxPages; page++) {
      const rows = await store.listDeliveredByTime({ from, limit: pageSize, offset: page * pageSize });
      next.push(...rows);
      full = rows.length === pageSize;
      if (!full) break;
    }
    deliveries = next;
    truncated = full;
  }

  async function takeSample(): Promise<OutboxCounts> {
    const t = now();
    const counts = await store.counts();
    const moved = readCount !== counts.delivered;
    // A quiet outbox is read again once a bucket has passed, so that calls leave the window.
    const stale = readAt === null || t - readAt >= bucketMs;
    if ((moved || stale) && (readAt === null || t - readAt >= readEveryMs)) {
      await readDeliveries(t);
      readAt = t;
      readCount = counts.delivered;
    }
    lastCount = counts.delivered;
    return counts;
  }

  return {
    sample() {
      // Two callers at once (the timer and a refresh after a mutation) share one read.
      inProgress ??= takeSample()
        .then(
          (counts) => {
            lastError = null;
            return counts;
          },
          (err: unknown) => {
            lastError = err instanceof Error ? err.message : String(err);
            throw err;
          },
        )
        .finally(() => (inProgress = null));
      return inProgress;
    },

    lastDelivered() {
      return lastCount;
    },

    snapshot(t = now()) {
      const end = Math.floor(t / bucketMs) * bucketMs + bucketMs;
      const count = Math.round(windowMs / bucketMs);
      const first = end - count * bucketMs;
      const buckets = Array.from({ length: count }, (_, i) => ({ start: first + i * bucketMs, end: first + (i + 1) * bucketMs, delivered: 0, latencies: [] as number[] }));
      for (const d of deliveries) {
        if (d.deliveredAt < first || d.deliveredAt >= end) continue;
        const b = buckets[Math.floor((d.deliveredAt - first) / bucketMs)];
        if (b === undefined) continue;
        b.delivered += 1;
        b.latencies.push(Math.max(0, d.deliveredAt - d.createdAt));
      }
      return {
        bucketMs,
        windowMs,
        readAt,
        truncated,
        lastError,
        buckets: buckets.map(({ latencies, ...rest }) => ({ ...rest, latency: summarise(latencies) })),
      };
    },
  };
}

function summarise(values: number[]): ThroughputBucket['latency'] {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  return { count: sorted.length, p50Ms: at(0.5), p95Ms: at(0.95), maxMs: sorted[sorted.length - 1] as number };
}
