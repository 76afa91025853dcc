/**
 * Group commit for the ingest API. With `synchronous=FULL` every SQLite commit waits for the disk (and,
 * when it runs on the calling thread, blocks the event loop meanwhile); sixteen agents posting at once
 * would queue sixteen commits behind each other. Enqueues that arrive while one commit runs (or in the
 * same turn of the event loop) go out together in one `enqueueMany` transaction: one commit, one disk
 * sync, for all of them. Each request still answers only once its own item is committed, so durability
 * is unchanged.
 */
import type { EnqueueResult, NewOutboxItem, OutboxStore } from '../outbox/outbox-store.ts';
import { InvalidCallIdError, isValidCallId } from '../payload/call-id-rules.ts';

/** Enqueues, committed in groups. */
export interface EnqueueBatcher {
  /** Durable once it resolves; the same result as `store.enqueue`. An invalid callId is refused alone (InvalidCallIdError). */
  enqueue(item: NewOutboxItem): Promise<EnqueueResult>;
  /** Resolves once every enqueue asked for so far is settled. */
  idle(): Promise<void>;
}

interface Waiting {
  item: NewOutboxItem;
  resolve: (result: EnqueueResult) => void;
  reject: (err: unknown) => void;
}

/** Default largest group: bounded so that one transaction never holds the writer for long. */
export const MAX_GROUP = 128;

/** A batcher over `store`. */
export function createEnqueueBatcher(store: OutboxStore, maxGroup = MAX_GROUP): EnqueueBatcher {
  let queue: Waiting[] = [];
  let running: Promise<void> | null = null;
  let idleWaiters: (() => void)[] = [];

  async function commit(group: Waiting[]): Promise<void> {
    try {
      const items = group.map((w) => w.item);
      const results = items.length === 1 ? [await store.enqueue(items[0] as NewOutboxItem)] : await store.enqueueMany(items);
      group.forEach((w, i) => {
        const r = results[i];
        if (r === undefined) w.reject(new Error(`the outbox returned no result for ${w.item.callId}`));
        else w.resolve(r);
      });
    } catch (err) {
      for (const w of group) w.reject(err);
    }
  }

  function pump(): void {
    if (running !== null) return;
    if (queue.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    const group = queue.slice(0, maxGroup);
    queue = queue.slice(group.length);
    running = commit(group).finally(() => {
      running = null;
      pump();
    });
  }

  return {
    enqueue(item: NewOutboxItem): Promise<EnqueueResult> {
      // Checked before it joins a group: one bad id must never fail the calls committed with it.
      if (!isValidCallId(item.callId)) return Promise.reject(new InvalidCallIdError(item.callId, 'callId'));
      return new Promise<EnqueueResult>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // After this turn of the event loop: requests parsed in the same turn share the commit.
        if (queue.length === 1 && running === null) setImmediate(pump);
      });
    },
    idle(): Promise<void> {
      if (queue.length === 0 && running === null) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
