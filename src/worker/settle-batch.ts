/**
 * Outcomes recorded in small batched transactions (docs/architecture.md, "Throughput"): every commit blocks the
 * event loop, so outcomes are gathered and written together — best of all in the same transaction as
 * the next lease (`flushAndLease`), which the worker takes anyway. A lost batch only means those calls
 * are sent again, with the same Idempotency-Key.
 */
import type { LeaseOptions, OutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';

/** One settlement with the item it belongs to (for callbacks). */
export interface PendingSettlement {
  settlement: Settlement;
  item: OutboxItem;
}

/** Options of `createSettleBatcher`. */
export interface SettleBatcherOptions {
  store: OutboxStore;
  owner: string;
  /** A batch is due this long after its first settlement was added; default 20 ms. */
  flushMs?: number;
  /** A batch is due at once when this many are waiting; default 64. */
  maxBatch?: number;
  /**
   * When given, the batcher never writes on its own: it calls this when a batch falls due, and the
   * caller writes it with `flush` or `flushAndLease` (so that a lease it is about to take anyway carries
   * the outcomes). Without it, a due batch is written at once with `settle`.
   */
  onDue?: () => void;
  /** Called after a batch is committed. */
  onCommitted?: (batch: readonly PendingSettlement[]) => void;
  /** Called when `flush` could not write a batch (the items' leases will expire and they go out again). */
  onError?: (err: unknown, batch: readonly PendingSettlement[]) => void;
}

/** Gathers settlements and writes them in batches, one transaction at a time. */
export interface SettleBatcher {
  add(settlement: Settlement, item: OutboxItem): void;
  /** Write everything gathered so far; resolves when it (and any earlier batch) is committed. Never rejects. */
  flush(): Promise<void>;
  /**
   * Write everything gathered so far and lease `lease` in ONE transaction (`settleAndLease`), after any
   * earlier batch; resolves with the leased items. When it fails nothing was written: the settlements
   * are kept for the next write, and the promise rejects with the store's error.
   */
  flushAndLease(lease: Omit<LeaseOptions, 'owner'>): Promise<OutboxItem[]>;
  /** Settlements gathered and not yet committed. */
  readonly size: number;
  /** Whether the gathered settlements should be written now (`flushMs` passed, or `maxBatch` reached). */
  readonly due: boolean;
}

/** Create a batcher. */
export function createSettleBatcher(options: SettleBatcherOptions): SettleBatcher {
  const flushMs = options.flushMs ?? 20;
  const maxBatch = options.maxBatch ?? 64;
  let queue: PendingSettlement[] = [];
  let timer: NodeJS.Timeout | null = null;
  let due = false;
  let writing = 0;
  // Batches are written one after another so that two transactions never race for the write lock, and
  // so that outcomes are committed in the order they were gathered.
  let chain: Promise<unknown> = Promise.resolve();

  function fallDue(): void {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    due = true;
    if (options.onDue) options.onDue();
    else void flush();
  }

  /** Take the queue and write it with `work` after the previous write. */
  function write<R>(work: (settlements: Settlement[]) => Promise<R>): { batch: PendingSettlement[]; result: Promise<R> } {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    due = false;
    const batch = queue;
    queue = [];
    writing += batch.length;
    const result = chain.then(async () => {
      try {
        const r = await work(batch.map((p) => p.settlement));
        if (batch.length > 0) {
          try {
            options.onCommitted?.(batch);
          } catch {
            // The batch is committed; a failing callback must not make it look otherwise.
          }
        }
        return r;
      } finally {
        writing -= batch.length;
      }
    });
    chain = result.then(
      () => undefined,
      () => undefined,
    );
    return { batch, result };
  }

  function flush(): Promise<void> {
    if (queue.length === 0) return chain.then(() => undefined);
    const { batch, result } = write((settlements) => options.store.settle(options.owner, settlements));
    return result.catch((err: unknown) => {
      try {
        options.onError?.(err, batch);
      } catch {
        // A failing error callback must not break the chain that later batches wait on.
      }
    });
  }

  function flushAndLease(lease: Omit<LeaseOptions, 'owner'>): Promise<OutboxItem[]> {
    const { batch, result } = write((settlements) => options.store.settleAndLease(options.owner, settlements, lease));
    return result.catch((err: unknown) => {
      // The transaction rolled back, so the outcomes are not recorded: keep them, ahead of any gathered
      // since, for the next write (at the latest the final flush of a stopping worker).
      if (batch.length > 0) {
        queue = [...batch, ...queue];
        if (!due && timer === null) timer = setTimeout(fallDue, flushMs);
      }
      throw err;
    });
  }

  return {
    add(settlement, item) {
      queue.push({ settlement, item });
      if (queue.length >= maxBatch) {
        if (!due) fallDue();
      } else if (!due) {
        timer ??= setTimeout(fallDue, flushMs);
      }
    },
    flush,
    flushAndLease,
    get size() {
      return queue.length + writing;
    },
    get due() {
      return due && queue.length > 0;
    },
  };
}
