/**
 * Open a sample of stored payloads (docs/architecture.md, "Stores" → "Payload encryption"): the oldest item
 * of each state. `status` and `doctor` run it so that a missing or wrong `CRM_OUTBOX_KEY` is said at once,
 * as an OutboxKeyError naming the key id, rather than when a worker first leases an item it cannot read.
 */
import type { OutboxState, OutboxStore } from './outbox-store.ts';

const STATES: readonly OutboxState[] = ['pending', 'in_flight', 'dead', 'delivered'];

/** Read (and so decrypt) the oldest item of each state; resolves with how many were read, or rejects. */
export async function probePayloads(store: OutboxStore): Promise<number> {
  let read = 0;
  for (const state of STATES) read += (await store.list({ state, limit: 1 })).length;
  return read;
}
