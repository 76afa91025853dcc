/**
 * Outcomes recorded in small batched transactions (DESIGN.md, "Throughput"): every commit blocks the
 * event loop, so outcomes are gathered for ~20 ms (or 64 of them) and written together. A lost batch
 * only means those calls are sent again, with the same Idempotency-Key.
 */
import type { OutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';

/** One settlement with the item it belongs to (for callbacks). */
export interface PendingSettlement {
  settlement: Settlement;
  item: OutboxItem;
}

/** Options of `createSettleBatcher`. */
export interface SettleBatcherOptions {
  store: OutboxStore;
  owner: string;
  /** Wait at most this long before writing; default 20 ms. */
  flushMs?: number;
  /** Write at once when this many are waiting; default 64. */
  maxBatch?: number;
  /** Called after a batch is committed. */
  onCommitted?: (batch: readonly PendingSettlement[]) => void;
  /** Called when a batch could not be written (the items' leases will expire and they go out again). */
  onError?: (err: unknown, batch: readonly PendingSettlement[]) => void;
}

/** Gathers settlements and writes them in batches, one transaction at a time. */
export interface SettleBatcher {
  add(settlement: Settlement, item: OutboxItem): void;
  /** Write everything gathered so far; resolves when it (and any earlier batch) is committed. */
  flush(): Promise<void>;
  /** Settlements gathered and not yet committed. */
  readonly size: number;
}

/** Create a batcher. */
export function createSettleBatcher(options: SettleBatcherOptions): SettleBatcher {
  const flushMs = options.flushMs ?? 20;
  const maxBatch = options.maxBatch ?? 64;
  let queue: PendingSettlement[] = [];
  let timer: NodeJS.Timeout | null = null;
  let writing = 0;
  // Batches are written one after another so that two transactions never race for the write lock.
  let chain: Promise<void> = Promise.resolve();

  function flush(): Promise<void> {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (queue.length === 0) return chain;
    const batch = queue;
    queue = [];
    writing += batch.length;
    chain = chain.then(async () => {
      try {
        await options.store.settle(options.owner, batch.map((p) => p.settlement));
        options.onCommitted?.(batch);
      } catch (err) {
        try {
          options.onError?.(err, batch);
        } catch {
          // A failing error callback must not break the chain that later batches wait on.
        }
      } finally {
        writing -= batch.length;
      }
    });
    return chain;
  }

  return {
    add(settlement, item) {
      queue.push({ settlement, item });
      if (queue.length >= maxBatch) void flush();
      else timer ??= setTimeout(() => void flush(), flushMs);
    },
    flush,
    get size() {
      return queue.length + writing;
    },
  };
}
