/**
 * Prometheus metrics (issue 9, "Metrics"), on a registry of their own per server rather than
 * prom-client's global default, so that two servers in one process (and tests) never share counters.
 *
 * Two families: the outbox gauges (queue depth by state, age of the oldest undelivered item), read from
 * `store.counts()` when Prometheus scrapes, so they are right whichever process delivers; and the
 * delivery counters and histograms, fed by the worker's `onAttempt`/`onSettled` hooks, which only the
 * process running the worker can count.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OutboxCounts, OutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';
import type { AttemptReport } from '../worker/deliver-item.ts';

/** Prefix of every metric of crm-upload. */
export const METRIC_PREFIX = 'crm_upload_';

/**
 * Buckets of the delivery-latency histogram (enqueue → delivered), seconds: a live call is delivered
 * within seconds; one that waited out the retry schedule, within hours.
 */
export const LATENCY_BUCKETS_S: readonly number[] = [0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400];

/** Buckets of the per-request duration histogram, seconds. */
export const REQUEST_BUCKETS_S: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The `status` label of an HTTP status: the number, or `none` for a network error or timeout. */
export function statusLabel(status: number | null): string {
  return status === null ? 'none' : String(status);
}

/** Options of `createOutboxGauges`. */
export interface OutboxGaugeOptions {
  /** The clock of the oldest-item age; default `Date.now`. */
  now?: () => number;
}

/**
 * Register the outbox gauges on `registry`: `crm_upload_queue_depth{state}` and
 * `crm_upload_oldest_pending_age_seconds`, collected from `store.counts()` at scrape time (one read per
 * scrape), and `crm_upload_outbox_up` (0 when that read failed, with the other gauges left out).
 */
export function createOutboxGauges(registry: Registry, store: OutboxStore, options: OutboxGaugeOptions = {}): void {
  const now = options.now ?? Date.now;
  // Both gauges collect in the same scrape: one counts() serves them.
  let pending: Promise<OutboxCounts | null> | null = null;
  const counts = (): Promise<OutboxCounts | null> => {
    pending ??= store
      .counts()
      .then(
        (c) => c,
        () => null,
      )
      .finally(() => {
        // Cleared after the scrape's other collectors had their turn.
        setImmediate(() => (pending = null));
      });
    return pending;
  };
  new Gauge({
    name: `${METRIC_PREFIX}outbox_up`,
    help: '1 when the outbox answered this scrape, else 0 (and the other outbox gauges are left out)',
    registers: [registry],
    async collect() {
      this.set((await counts()) === null ? 0 : 1);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}queue_depth`,
    help: 'Outbox items by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const c = await counts();
      if (c === null) return;
      for (const state of ['pending', 'in_flight', 'delivered', 'dead'] as const) this.set({ state }, c[state]);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}oldest_pending_age_seconds`,
    help: 'Age of the oldest item not yet delivered or dead (pending or in flight), seconds since it was enqueued; 0 when there is none',
    registers: [registry],
    async collect() {
      this.reset();
      const c = await counts();
      if (c === null) return;
      this.set(c.oldestPendingAt === null ? 0 : Math.max(0, (now() - c.oldestPendingAt) / 1000));
    },
  });
}

/** The worker hooks that feed the delivery metrics. */
export interface DeliveryMetricHooks {
  /** Pass as `startWorker({ onAttempt })`: request durations and recording bytes. */
  onAttempt(report: AttemptReport, item: OutboxItem): void;
  /** Pass as `startWorker({ onSettled })`: outcomes (once committed) and the delivery latency. */
  onSettled(settlement: Settlement, item: OutboxItem): void;
}

/**
 * Register the delivery metrics on `registry` and return the worker hooks that feed them:
 * `crm_upload_delivered_total{status}`, `crm_upload_retried_total{outcome,status}` (outcome `retry`, or
 * `wait` for a rate-limited wait), `crm_upload_dead_total{status}`,
 * `crm_upload_delivery_latency_seconds` (enqueue → delivered), `crm_upload_request_duration_seconds{step}`
 * and `crm_upload_recording_bytes_uploaded_total`.
 */
export function createDeliveryMetrics(registry: Registry, options: { now?: () => number } = {}): DeliveryMetricHooks {
  const now = options.now ?? Date.now;
  const delivered = new Counter({
    name: `${METRIC_PREFIX}delivered_total`,
    help: 'Calls delivered (the CRM answered 2xx, or 409 already exists), by HTTP status',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const retried = new Counter({
    name: `${METRIC_PREFIX}retried_total`,
    help: 'Attempts that will be tried again: outcome retry (a failed attempt) or wait (rate-limited, no attempt used), by HTTP status (none: network error or timeout)',
    labelNames: ['outcome', 'status'] as const,
    registers: [registry],
  });
  const dead = new Counter({
    name: `${METRIC_PREFIX}dead_total`,
    help: 'Calls dead-lettered, by the HTTP status of their last attempt (none: network error, timeout or invalid input)',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: `${METRIC_PREFIX}delivery_latency_seconds`,
    help: 'Time from enqueue to delivered, seconds',
    buckets: [...LATENCY_BUCKETS_S],
    registers: [registry],
  });
  const requests = new Histogram({
    name: `${METRIC_PREFIX}request_duration_seconds`,
    help: 'Time spent in the HTTP requests of one attempt (pacing excluded), by the step that decided its outcome',
    labelNames: ['step'] as const,
    buckets: [...REQUEST_BUCKETS_S],
    registers: [registry],
  });
  const bytes = new Counter({
    name: `${METRIC_PREFIX}recording_bytes_uploaded_total`,
    help: 'Bytes of recordings uploaded to the CRM',
    registers: [registry],
  });
  return {
    onAttempt(report) {
      if (report.step !== null) requests.observe({ step: report.step }, report.durationMs / 1000);
      if (report.uploadedBytes !== undefined && report.uploadedBytes > 0) bytes.inc(report.uploadedBytes);
    },
    onSettled(settlement, item) {
      const status = statusLabel(settlement.status);
      switch (settlement.kind) {
        case 'delivered':
          delivered.inc({ status });
          // The settle's own time is not passed to the hook; it ran just before it, in the same batch.
          latency.observe(Math.max(0, now() - item.createdAt) / 1000);
          break;
        case 'retry':
        case 'wait':
          retried.inc({ outcome: settlement.kind, status });
          break;
        case 'dead':
          dead.inc({ status });
          break;
      }
    },
  };
}

/**
 * prom-client default metrics left out. Each is a gauge named like a counter (`_total`), which the Prometheus
 * naming rules forbid and `promtool check metrics` flags ("non-counter metrics should not have _total
 * suffix"); each only sums a gauge that stays, by type: `sum(nodejs_active_handles)`,
 * `sum(nodejs_active_requests)`, `sum(nodejs_active_resources)` give the same figure. prom-client's own
 * maintainers lean to deleting them (prometheus/client_js issue 283).
 */
export const DROPPED_DEFAULT_METRICS: readonly string[] = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * A registry with the process metrics prom-client collects (CPU, memory, event loop), under no prefix,
 * less DROPPED_DEFAULT_METRICS.
 */
export function newRegistry(options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics) {
    collectDefaultMetrics({ register: registry });
    // removeSingleMetric is a no-op for a name that is not there (e.g. resources on an older Node).
    for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }
  return registry;
}
