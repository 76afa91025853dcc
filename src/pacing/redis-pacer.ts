/**
 * The pacer shared by every worker process on every host of one BullMQ queue (docs/architecture.md, "Rate limit":
 * "with BullMQ the pacing is global across all processes and hosts, its state kept in Redis"). BullMQ's
 * own limiter counts jobs, but a call with a recording makes two requests, so the slots are per HTTP
 * request, as with the in-process pacer.
 *
 * Redis keys named by whoever owns them (the BullMQ store, `capabilities.sharedPacer`): the next free
 * slot, a pause (a 429's Retry-After, `holdFor`) that expires on its own, `shift`, how far the
 * timeline has moved on after stalls (see `CATCH_UP_MS` in `pacer.ts`), and `second`, the grants of the
 * last second (`secondCap`). The pacer derives no key of its own, so its owner can remove every one. The pause is the one rate-limit hold of the queue: the store's
 * lease reads it too. Two Lua
 * scripts, on Redis's own clock (hosts' clocks may disagree; Redis's is the one all of them share):
 * - RESERVE books the caller a slot on the timeline, slot = max(now, next, end of the pause), next =
 *   slot + interval, so that concurrent callers on all hosts wake up one after another rather than
 *   together;
 * - CLAIM, when the caller wakes, grants once its slot has come on Redis's clock, and keeps to the
 *   timeline: a caller that woke late (a busy event loop, a GC pause, the round trip) does not push the
 *   next caller's slot back, which would add the lateness of every grant up into unused limit; a
 *   lateness beyond `CATCH_UP_MS` moves the timeline on instead, so that the waiting callers on all
 *   hosts never go out together after a stall; and no second holds more than `secondCap` grants.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { CATCH_UP_MS, pacingIntervalMs, secondCap, type Pacer } from './pacer.ts';

// KEYS[1] the slot key, KEYS[2] the pause key, KEYS[3] the shift key; ARGV[1] the interval in ms (may
// have a fraction), ARGV[2] the longest wait the caller takes (negative: any). Returns { the booked slot
// on the timeline (without the shift), the wait in ms }, the slot '' when the wait is longer than
// ARGV[2] (nothing booked then).
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local shift = tonumber(redis.call('GET', KEYS[3]) or '0')
local nextFree = tonumber(redis.call('GET', KEYS[1]) or '0')
local paused = redis.call('PTTL', KEYS[2])
local slot = math.max(now - shift, nextFree)
if paused > 0 then slot = math.max(slot, now + paused - shift) end
local maxWait = tonumber(ARGV[2])
if maxWait >= 0 and slot + shift - now > maxWait then return { '', string.format('%.3f', slot + shift - now) } end
-- Kept a little longer than the reservation, so an idle queue does not keep the keys forever; the
-- shift lives as long as the slots booked against it.
local ttl = math.ceil(slot + shift + interval - now) + 60000
redis.call('SET', KEYS[1], string.format('%.3f', slot + interval), 'PX', ttl)
if shift ~= 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
return { string.format('%.3f', slot), string.format('%.3f', slot + shift - now) }
`;

// KEYS[1] the shift key, KEYS[2] the pause key, KEYS[3] the grants of the last second (a sorted set);
// ARGV[1] the booked slot, ARGV[2] the catch-up allowance in ms, ARGV[3] the per-second cap. Returns 0
// when granted, else how long to wait before claiming again.
const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return tostring(paused) end
local shift = tonumber(redis.call('GET', KEYS[1]) or '0')
local due = tonumber(ARGV[1]) + shift
if now < due then return string.format('%.3f', due - now) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 1000)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return string.format('%.3f', math.max(0.001, tonumber(first[2]) + 1000 - now))
end
local late = now - due
local allowance = tonumber(ARGV[2])
if late > allowance then redis.call('SET', KEYS[1], string.format('%.3f', shift + late - allowance), 'PX', 120000) end
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('PEXPIRE', KEYS[3], 2000)
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
  /** How far the timeline has moved on after stalls (RESERVE, CLAIM). */
  readonly shift: string;
  /** The grants of the last second, a sorted set (CLAIM). */
  readonly second: string;
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
  const cap = intervalMs > 0 ? secondCap(intervalMs) : 0;
  const { slot: key, pause: pauseKey, shift: shiftKey, second: secondKey } = keys;
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
    async acquire(signal, maxWaitMs) {
      signal?.throwIfAborted();
      if (intervalMs === 0) {
        for (;;) {
          await checkPause();
          const wait = heldUntil - performance.now();
          if (wait <= 0) return true;
          if (maxWaitMs !== undefined && wait > maxWaitMs) return false;
          await sleep(Math.ceil(wait), undefined, { signal });
        }
      }
      const limit = maxWaitMs === undefined ? '-1' : String(Math.max(0, maxWaitMs));
      const [slot, waitText] = (await redis.eval(RESERVE, 3, key, pauseKey, shiftKey, String(intervalMs), limit)) as [string, string];
      const wait = Number(waitText);
      // Refused or booked, the wait says how far the shared timeline is booked: what `delayMs` tells the
      // worker sizing its leases, other processes' bookings included.
      lastSlotAt = performance.now() + wait - (slot === '' ? intervalMs : 0);
      if (slot === '') return false;
      // A reserved slot stays spent when the wait is aborted: handing it back could bunch two requests.
      if (wait > 0) await sleep(Math.ceil(wait), undefined, { signal });
      for (;;) {
        const more = Number(await redis.eval(CLAIM, 3, shiftKey, pauseKey, secondKey, slot, String(CATCH_UP_MS), String(cap)));
        if (more <= 0) return true;
        await sleep(Math.max(1, Math.ceil(more)), undefined, { signal });
      }
    },
  };
}
