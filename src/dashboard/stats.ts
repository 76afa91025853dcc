/**
 * Throughput and delivery latency over the last hour, in 5-minute buckets, for the dashboard — kept
 * cheap, whatever the size of the outbox's history and however many browser tabs poll:
 *
 * - Throughput comes from the dashboard's own sampling of `store.counts()` (every few seconds, in one
 *   place, not per tab): the rise of the delivered count between two samples is what was delivered in
 *   between. Exact for every call, old or new, from the first sample on; it costs one `counts()`.
 * - Latency (enqueue → delivered) comes from the delivered items themselves: the calls that *started*
 *   in the last two hours (`listDelivered({ startFrom })`, indexed by start time in both stores, so the
 *   read is bounded by recent traffic), re-read at most every `latencyEveryMs` and only when the
 *   delivered count moved. The same read gives the throughput of the buckets before the first sample.
 *   Its blind spot: a backfill of old calls (`bulk` of last month's folders) is counted in throughput
 *   but has no latency figures, since those calls did not start recently.
 */
import type { OutboxCounts, OutboxStore } from '../outbox/outbox-store.ts';

/** One bucket of the last hour. */
export interface ThroughputBucket {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. The last bucket is the current one and still filling. */
  end: number;
  /** Calls delivered in the bucket. */
  delivered: number;
  /** Enqueue → delivered of the calls delivered in the bucket whose latency is known; null when none. */
  latency: { count: number; p50Ms: number; p95Ms: number; maxMs: number } | null;
}

/** What the dashboard shows of the last hour. */
export interface StatsSnapshot {
  bucketMs: number;
  windowMs: number;
  buckets: ThroughputBucket[];
  /** When the first sample was taken: throughput is exact from then on. Null before it. */
  sampledSince: number | null;
  /** Why the last sample failed, or null. */
  lastError: string | null;
}

/** Options of `createDeliveryStats`. */
export interface DeliveryStatsOptions {
  /** Default 5 min. */
  bucketMs?: number;
  /** Default 1 h. */
  windowMs?: number;
  /** How far before the window the latency read looks for calls that started earlier; default 1 h. */
  lookbackMs?: number;
  /** The latency read runs at most this often; default 30 s. */
  latencyEveryMs?: number;
  /** Page size of the latency read; default 1000. */
  pageSize?: number;
  /** Most pages of one latency read; default 20. */
  maxPages?: number;
  now?: () => number;
}

/** The sampler: `sample()` on a timer, `snapshot()` when rendering. */
export interface DeliveryStats {
  /** Take a sample (and, when due, re-read the latencies); resolves to the counts read. */
  sample(): Promise<OutboxCounts>;
  snapshot(now?: number): StatsSnapshot;
  /** The delivered count of the latest sample, or null before the first. */
  lastDelivered(): number | null;
}

interface Sample {
  at: number;
  delivered: number;
}

interface Delivered {
  deliveredAt: number;
  latencyMs: number;
}

/** Create the sampler over `store`. */
export function createDeliveryStats(store: OutboxStore, options: DeliveryStatsOptions = {}): DeliveryStats {
  const bucketMs = options.bucketMs ?? 5 * 60_000;
  const windowMs = options.windowMs ?? 60 * 60_000;
  const lookbackMs = options.lookbackMs ?? 60 * 60_000;
  const latencyEveryMs = options.latencyEveryMs ?? 30_000;
  const pageSize = options.pageSize ?? 1000;
  const maxPages = options.maxPages ?? 20;
  const now = options.now ?? Date.now;

  const samples: Sample[] = [];
  let recent = new Map<string, Delivered>();
  let lastLatencyAt = Number.NEGATIVE_INFINITY;
  let latencyDeliveredCount: number | null = null;
  let lastError: string | null = null;
  let inProgress: Promise<OutboxCounts> | null = null;

  async function readLatencies(t: number): Promise<void> {
    const next = new Map<string, Delivered>();
    for (let page = 0; page < maxPages; page++) {
      const items = await store.listDelivered({ startFrom: t - windowMs - lookbackMs, limit: pageSize, offset: page * pageSize });
      for (const item of items) {
        if (item.deliveredAt === null || item.deliveredAt < t - windowMs - bucketMs) continue;
        next.set(item.callId, { deliveredAt: item.deliveredAt, latencyMs: Math.max(0, item.deliveredAt - item.createdAt) });
      }
      if (items.length < pageSize) break;
    }
    recent = next;
  }

  async function takeSample(): Promise<OutboxCounts> {
    const t = now();
    const counts = await store.counts();
    if (latencyDeliveredCount !== counts.delivered && t - lastLatencyAt >= latencyEveryMs) {
      await readLatencies(t);
      lastLatencyAt = t;
      latencyDeliveredCount = counts.delivered;
    }
    samples.push({ at: t, delivered: counts.delivered });
    // One sample before the window stays, as the baseline of the first delta inside it.
    while (samples.length > 2 && (samples[1]?.at ?? t) < t - windowMs - bucketMs) samples.shift();
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
      return samples.at(-1)?.delivered ?? null;
    },

    snapshot(t = now()) {
      const end = Math.floor(t / bucketMs) * bucketMs + bucketMs;
      const count = Math.round(windowMs / bucketMs);
      const first = end - count * bucketMs;
      const buckets = Array.from({ length: count }, (_, i) => ({ start: first + i * bucketMs, end: first + (i + 1) * bucketMs, delivered: 0, latencies: [] as number[] }));
      const bucketOf = (at: number): (typeof buckets)[number] | undefined => (at < first || at >= end ? undefined : buckets[Math.floor((at - first) / bucketMs)]);
      const sampledSince = samples[0]?.at ?? null;

      for (const d of recent.values()) {
        const b = bucketOf(d.deliveredAt);
        if (b === undefined) continue;
        b.latencies.push(d.latencyMs);
        // Before the first sample there are no deltas: these items are all there is to count.
        if (sampledSince === null || d.deliveredAt <= sampledSince) b.delivered += 1;
      }
      for (let i = 1; i < samples.length; i++) {
        const [a, b] = [samples[i - 1] as Sample, samples[i] as Sample];
        // A requeue lowers the count; it is not a negative delivery.
        const rise = Math.max(0, b.delivered - a.delivered);
        const bucket = bucketOf(b.at);
        if (bucket !== undefined) bucket.delivered += rise;
      }
      return {
        bucketMs,
        windowMs,
        sampledSince,
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
