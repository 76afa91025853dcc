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

/** Options of `deliverCalls`. */
export type DeliverCallsOptions = WorkerOptions & {
  callIds: readonly string[];
  maxWaitMs: number;
  /** Stops the delivery early (Ctrl-C), as `maxWaitMs` passing does. */
  signal?: AbortSignal;
  /**
   * Lease only these calls (default true). False when they are all the outbox holds (a `bulk` run that
   * found it empty): the worker then skips the filter, whose lookups grow with the list, and ends when
   * nothing at all is pending or in flight.
   */
  onlyTheseCalls?: boolean;
  /** Read each call back into `perCall` (default true); false counts their states only (large runs). */
  perCall?: boolean;
};

/**
 * Deliver the listed calls now: keep going until each is delivered or dead — including items a crashed
 * process left leased, once their lease expires — or `maxWaitMs` passes, or `signal` aborts.
 */
export async function deliverCalls(options: DeliverCallsOptions): Promise<DeliverySummary> {
  const { onlyTheseCalls = true, perCall = true, callIds, ...rest } = options;
  const handle = startWorker({ ...rest, ...(onlyTheseCalls ? { callIds } : {}), idleExit: true, once: false });
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
  if (!perCall) return { ...(await countStates(options.store, callIds)), perCall: new Map(), worker };
  return summarise(options.store, callIds, worker);
}

/** How a set of calls ended: delivered, dead, or still pending or in flight (the worker delivers them later). */
export interface CallsOutcome {
  delivered: number;
  dead: number;
  pending: number;
}

/** The states of the listed calls counted, read a chunk at a time (a bulk run lists thousands). */
export async function countStates(store: WorkerOptions['store'], callIds: readonly string[]): Promise<CallsOutcome> {
  const out: CallsOutcome = { delivered: 0, dead: 0, pending: 0 };
  const CHUNK = 5_000;
  const ids = [...new Set(callIds)];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const states = await store.states(ids.slice(i, i + CHUNK));
    for (const state of states.values()) {
      if (state === 'delivered') out.delivered += 1;
      else if (state === 'dead') out.dead += 1;
      else out.pending += 1;
    }
  }
  return out;
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
