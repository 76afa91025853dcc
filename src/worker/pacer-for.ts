/**
 * Which pacer a worker uses: the one its store shares between processes when it declares one
 * (`capabilities.sharedPacer`: every process on every host then keeps to one limit and one 429 hold
 * together), the in-process one otherwise.
 */
import type { OutboxStore } from '../outbox/outbox-store.ts';
import { createPacer, type Pacer } from '../pacing/pacer.ts';

/**
 * The pacer for `store` at `requestsPerMinute` (0: no pacing). A store with a shared pacer gives it even
 * with pacing off, because a 429's hold must pause every process.
 */
export function pacerFor(store: OutboxStore, requestsPerMinute: number): Pacer {
  return store.capabilities.sharedPacer?.(requestsPerMinute) ?? createPacer(requestsPerMinute);
}
