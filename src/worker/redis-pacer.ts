/**
 * The pacer shared by every worker process on every host of one BullMQ queue (DESIGN.md, "Rate limit":
 * "with BullMQ the pacing is global across all processes and hosts, its state kept in Redis"). BullMQ's
 * own limiter counts jobs, but a call with a recording makes two requests, so the slots are per HTTP
 * request, as with the in-process pacer.
 *
 * One Redis key holds the next free slot. A Lua script reserves a slot atomically on Redis's own clock
 * (hosts' clocks may disagree; Redis's is the one all of them share) and answers how long the caller
 * waits for it: slot = max(now, next); next = slot + interval.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { pacingIntervalMs, type Pacer } from './pacer.ts';

// KEYS[1] the slot key; ARGV[1] the interval in ms (may have a fraction). Returns the wait in ms.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local nextFree = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nextFree)
-- Kept a little longer than the reservation, so an idle queue does not keep the key forever.
redis.call('SET', KEYS[1], string.format('%.3f', slot + interval), 'PX', math.ceil(slot + interval - now) + 60000)
return string.format('%.3f', slot - now)
`;

/** A global pacer at `requestsPerMinute` on `key` of `redis`; 0 turns pacing off (see `createPacer`). */
export function createRedisPacer(redis: Redis, key: string, requestsPerMinute: number): Pacer {
  const intervalMs = pacingIntervalMs(requestsPerMinute);
  // The last reservation this process made (its own clock), for `delayMs`, which cannot ask Redis.
  let lastSlotAt = -Infinity;
  return {
    intervalMs,
    delayMs() {
      if (intervalMs === 0) return 0;
      // Other hosts may have booked slots since; this is a lower bound, used only to size leases.
      return Math.max(0, lastSlotAt + intervalMs - performance.now());
    },
    async acquire(signal) {
      signal?.throwIfAborted();
      if (intervalMs === 0) return;
      const wait = Number(await redis.eval(RESERVE, 1, key, String(intervalMs)));
      lastSlotAt = performance.now() + wait;
      // A reserved slot stays spent when the wait is aborted: handing it back could bunch two requests.
      if (wait > 0) await sleep(Math.ceil(wait), undefined, { signal });
    },
  };
}
