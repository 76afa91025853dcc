/**
 * The pacer shared by every worker process on every host of one BullMQ queue (docs/architecture.md, "Rate limit":
 * "with BullMQ the pacing is global across all processes and hosts, its state kept in Redis"). BullMQ's
 * own limiter counts jobs, but a call with a recording makes two requests, so the slots are per HTTP
 * request, as with the in-process pacer.
 *
 * Three Redis keys, named by whoever owns them (the BullMQ store, `capabilities.sharedPacer`): the next
 * free slot, the last grant, and a pause (a 429's Retry-After, `holdFor`) that expires on its own. The
 * pause is the one rate-limit hold of the queue: the store's lease reads it too. Two Lua scripts, on Redis's own clock (hosts' clocks may disagree; Redis's is
 * the one all of them share):
 * - RESERVE books the caller a slot, slot = max(now, next, end of the pause), next = slot + interval,
 *   so that concurrent callers on all hosts wake up one after another rather than together;
 * - CLAIM, when the caller wakes, grants only if a full interval has passed since the last grant on any
 *   host. A process that woke late (a busy event loop, a GC pause) would otherwise send in the next
 *   caller's slot, and the CRM would see two requests together: the spacing is checked at the moment of
 *   sending, not only at booking.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { pacingIntervalMs, type Pacer } from './pacer.ts';

// KEYS[1] the slot key, KEYS[2] the pause key; ARGV[1] the interval in ms (may have a fraction).
// Returns the wait in ms.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local nextFree = tonumber(redis.call('GET', KEYS[1]) or '0')
local paused = redis.call('PTTL', KEYS[2])
local slot = math.max(now, nextFree)
if paused > 0 then slot = math.max(slot, now + paused) end
-- Kept a little longer than the reservation, so an idle queue does not keep the key forever.
redis.call('SET', KEYS[1], string.format('%.3f', slot + interval), 'PX', math.ceil(slot + interval - now) + 60000)
return string.format('%.3f', slot - now)
`;

// KEYS[1] the last-grant key, KEYS[2] the pause key; ARGV[1] the interval in ms. Returns 0 when granted
// (and records the grant), else how long to wait before claiming again.
const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return tostring(paused) end
local interval = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < last + interval then return string.format('%.3f', last + interval - now) end
redis.call('SET', KEYS[1], string.format('%.3f', now), 'PX', math.ceil(interval) + 60000)
return '0'
`;

// KEYS[1] the pause key; ARGV[1] the hold in ms. Never shortens a pause already in place.
const HOLD = `
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
`;

/** How long the hold at `pauseKey` has left, ms (0 when none): what a lease checks before taking jobs. */
export async function holdLeftMs(redis: Redis, pauseKey: string): Promise<number> {
  return Math.max(0, await redis.pttl(pauseKey));
}

/** With pacing off, how often a process asks Redis whether another one has paused the queue. */
export const PAUSE_POLL_MS = 100;

/** The Redis keys of one shared pacer. */
export interface RedisPacerKeys {
  /** The next free slot (RESERVE). */
  readonly slot: string;
  /** The last grant on any host (CLAIM). */
  readonly last: string;
  /** The rate-limit hold (a 429's Retry-After), expiring on its own. */
  readonly pause: string;
}

/**
 * A global pacer at `requestsPerMinute` on the given keys of `redis`. With 0
 * requests are not paced, but a hold still pauses every process: each process then looks at the pause
 * at most every `PAUSE_POLL_MS`, so that requests do not each cost a round trip.
 */
export function createRedisPacer(redis: Redis, keys: RedisPacerKeys, requestsPerMinute: number, onError: (err: unknown) => void = () => undefined): Pacer {
  const intervalMs = pacingIntervalMs(requestsPerMinute);
  const { slot: key, pause: pauseKey, last: lastKey } = keys;
  // The last reservation this process made (its own clock), for `delayMs`, which cannot ask Redis.
  let lastSlotAt = -Infinity;
  let heldUntil = -Infinity;
  let pauseCheckedAt = -Infinity;
  let pauseCheck: Promise<void> | null = null;

  /** Learn about a pause set elsewhere (one request at a time, at most every PAUSE_POLL_MS). */
  function checkPause(): Promise<void> {
    if (performance.now() - pauseCheckedAt < PAUSE_POLL_MS) return Promise.resolve();
    pauseCheck ??= redis
      .pttl(pauseKey)
      .then((left) => {
        pauseCheckedAt = performance.now();
        if (left > 0) heldUntil = Math.max(heldUntil, pauseCheckedAt + left);
      })
      .finally(() => (pauseCheck = null));
    return pauseCheck;
  }

  return {
    intervalMs,
    delayMs() {
      // Other hosts may have booked slots since; this is a lower bound, used only to size leases.
      return Math.max(0, lastSlotAt + intervalMs - performance.now(), heldUntil - performance.now());
    },
    holdFor(ms) {
      if (!(ms > 0)) return;
      heldUntil = Math.max(heldUntil, performance.now() + ms);
      // Not awaited by the caller (it is settling an attempt); a lost hold only means more 429s.
      redis.eval(HOLD, 1, pauseKey, String(Math.ceil(ms))).catch(onError);
    },
    async acquire(signal) {
      signal?.throwIfAborted();
      if (intervalMs === 0) {
        for (;;) {
          await checkPause();
          const wait = heldUntil - performance.now();
          if (wait <= 0) return;
          await sleep(Math.ceil(wait), undefined, { signal });
        }
      }
      const wait = Number(await redis.eval(RESERVE, 2, key, pauseKey, String(intervalMs)));
      lastSlotAt = performance.now() + wait;
      // A reserved slot stays spent when the wait is aborted: handing it back could bunch two requests.
      if (wait > 0) await sleep(Math.ceil(wait), undefined, { signal });
      for (;;) {
        const more = Number(await redis.eval(CLAIM, 2, lastKey, pauseKey, String(intervalMs)));
        if (more <= 0) return;
        await sleep(Math.max(1, Math.ceil(more)), undefined, { signal });
      }
    },
  };
}
