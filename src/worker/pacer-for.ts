/**
 * Which pacer a worker uses: the one shared through Redis when the outbox is a BullMQ queue (every
 * process on every host then keeps to one limit together), the in-process one otherwise.
 */
import type { Redis } from 'ioredis';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import { createPacer, type Pacer } from './pacer.ts';
import { createRedisPacer } from './redis-pacer.ts';

/** A store that coordinates processes through Redis (the BullMQ store). */
interface RedisBackedStore {
  redis: Redis;
  key(name: string): string;
}

function isRedisBacked(store: OutboxStore): store is OutboxStore & RedisBackedStore {
  const s = store as Partial<RedisBackedStore>;
  return typeof s.key === 'function' && typeof s.redis === 'object' && s.redis !== null;
}

/**
 * The pacer for `store` at `requestsPerMinute` (0: no pacing). A Redis-backed store gets the shared one
 * even with pacing off, because a 429's hold must pause every process.
 */
export function pacerFor(store: OutboxStore, requestsPerMinute: number): Pacer {
  if (isRedisBacked(store)) return createRedisPacer(store.redis, store.key('pacer'), requestsPerMinute);
  return createPacer(requestsPerMinute);
}
