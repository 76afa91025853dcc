/**
 * Deliver chosen calls now (what `send`, `bulk` and the library's upload functions do), on the one
 * delivery loop of `worker.ts` (docs/architecture.md, "Worker steps").
 */
import type { OutboxItem } from '../outbox/outbox-store.ts';
import { startWorker, type WorkerOptions, type WorkerSummary } from './worker.ts';

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
 * Deliver the listed calls now: keep going until each is delivered or dead — including items a crashed
 * process left leased, once their lease expires — or `maxWaitMs` passes, or `signal` aborts.
 */
export async function deliverCalls(
  options: WorkerOptions & {
    callIds: readonly string[];
    maxWaitMs: number;
    /** Stops the delivery early (Ctrl-C), as `maxWaitMs` passing does. */
    signal?: AbortSignal;
  },
): Promise<DeliverySummary> {
  const handle = startWorker({ ...options, idleExit: true, once: false });
  const timer = setTimeout(() => void handle.stop(), options.maxWaitMs);
  const onAbort = (): void => void handle.stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let worker: WorkerSummary;
  try {
    worker = await handle.done;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  return summarise(options.store, options.callIds, worker);
}

/** The final state of each listed call, counted: what `deliverCalls` and `bulk` report. */
export async function summarise(store: WorkerOptions['store'], callIds: readonly string[], worker: WorkerSummary): Promise<DeliverySummary> {
  const summary: DeliverySummary = { delivered: 0, dead: 0, pending: 0, perCall: new Map(), worker };
  for (const callId of new Set(callIds)) {
    const item = await store.get(callId);
    if (item === null) continue;
    summary.perCall.set(callId, item);
    if (item.state === 'delivered') summary.delivered += 1;
    else if (item.state === 'dead') summary.dead += 1;
    else summary.pending += 1;
  }
  return summary;
}
