/**
 * Client-side pacing (docs/architecture.md, "Delivery" → "Rate limit"): at most one request every 60000/N ms,
 * evenly spaced, never a burst, so that no server-side window (per minute, per second, sliding or
 * fixed) is exceeded. Every HTTP request, recording uploads included, acquires a slot first.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A source of request slots: the in-process pacer below, or the Redis-backed one that every worker
 * process of a BullMQ queue shares (`redis-pacer.ts`).
 */
export interface Pacer {
  /** Milliseconds between two grants; 0 when pacing is off. */
  readonly intervalMs: number;
  /**
   * Resolves true when the caller may send one request. Rejects with the signal's reason when aborted.
   * With `maxWaitMs`, a slot further away than that is not booked at all and the call resolves false at
   * once: a delivery whose lease would run out before its turn gives its place up without spending a
   * slot (a spent slot is a request of the limit left unused, and every caller behind it waits longer).
   */
  acquire(signal?: AbortSignal, maxWaitMs?: number): Promise<boolean>;
  /** How long a slot reserved now would wait (0 when one is free), so callers can avoid over-leasing. */
  delayMs(): number;
  /**
   * Grant nothing for the next `ms` (a 429's Retry-After): every request that goes through this pacer
   * waits, not only the one that was refused, since the CRM refuses them all alike. Works with pacing
   * off too. Never shortens a hold already in place.
   */
  holdFor(ms: number): void;
}

/** A pacer that never waits and cannot hold (for tests of the steps around it). */
export const UNPACED: Pacer = {
  intervalMs: 0,
  acquire: (signal) => (signal?.aborted ? Promise.reject(signal.reason as Error) : Promise.resolve(true)),
  delayMs: () => 0,
  holdFor: () => undefined,
};

/**
 * How much slower than the limit requests are paced. A grant is spaced exactly, but the request it
 * releases reaches the CRM a little later or sooner (event loop, GC, network), and a server window
 * holding exactly N requests at the limit's pace is exceeded by any request that arrives late while the
 * next one arrives on time. 2% leaves that much of every window as slack (1.2 s of a per-minute
 * window, 20 ms of a per-second one) for 2% of the throughput.
 */
export const PACING_HEADROOM = 0.02;

/** Milliseconds between two grants at `requestsPerMinute` (0 when pacing is off). */
export function pacingIntervalMs(requestsPerMinute: number): number {
  return requestsPerMinute > 0 ? (60_000 / requestsPerMinute) * (1 + PACING_HEADROOM) : 0;
}

/**
 * How much lateness a grant may make up for (docs/architecture.md, "Rate limit"). Slots lie on a timeline
 * one interval apart, booked in order; a timer fires late (whole milliseconds, a busy event loop, a
 * loaded machine: tens of ms), and if every grant were spaced a full interval after the previous one's
 * actual time, that lateness would add up into unused limit: at 30000/min (2.04 ms apart) a timer
 * firing at the next whole millisecond alone cost a third of it. So a grant keeps to its own slot on
 * the timeline even when that brings it closer to a late one — but makes up for at most this much
 * lateness: after a longer stall the timeline moves on rather than let all waiting grants go together.
 *
 * Why this is safe: grants lie within CATCH_UP_MS after slots at least one interval apart, so a window
 * of W ms holds at most ⌊(W + CATCH_UP_MS) / interval⌋ + 1 of them; the headroom leaves 2% of W for
 * this and the network's jitter (1.2 s of a per-minute window; any window from 10 s up keeps ≥ 100 ms
 * for jitter). Shorter windows are kept by `SECOND_CAP`.
 */
export const CATCH_UP_MS = 100;

/**
 * Per-second windows (a CRM limiting per second as well as per minute): no sliding second holds more
 * grants than evenly spaced ones would, ⌊1000 / interval⌋ + 1, so catching up never bunches grants
 * within a second beyond that.
 */
export function secondCap(intervalMs: number): number {
  return Math.floor(1000 / intervalMs) + 1;
}

/**
 * An in-process pacer granting one request every `pacingIntervalMs(requestsPerMinute)` ms on average.
 * Slots are reserved at call time (next = max(now, last slot + interval)), so concurrent callers are
 * spread out in order rather than released together, and a grant keeps to its slot (see `CATCH_UP_MS`,
 * `secondCap`). `0` turns pacing off (only holds then make callers wait).
 */
export function createPacer(requestsPerMinute: number, clock: () => number = () => performance.now()): Pacer {
  const intervalMs = pacingIntervalMs(requestsPerMinute);
  const cap = intervalMs > 0 ? secondCap(intervalMs) : 0;
  let nextFree = -Infinity;
  // How far the timeline has moved on after stalls longer than CATCH_UP_MS (added to every booked slot).
  let shift = 0;
  let heldUntil = -Infinity;
  // Times of the last `cap` grants, oldest first (a ring), for the per-second cap.
  const recent: number[] = [];
  let oldest = 0;
  return {
    intervalMs,
    delayMs() {
      return Math.max(0, nextFree + shift - clock(), heldUntil - clock());
    },
    holdFor(ms) {
      if (ms > 0) heldUntil = Math.max(heldUntil, clock() + ms);
    },
    async acquire(signal, maxWaitMs) {
      signal?.throwIfAborted();
      if (intervalMs === 0) {
        if (maxWaitMs !== undefined && heldUntil - clock() > maxWaitMs) return false;
        // Off: a hold is the only wait, and a later hold (another 429 meanwhile) extends it.
        while (clock() < heldUntil) await sleep(Math.ceil(heldUntil - clock()), undefined, { signal });
        return true;
      }
      // Booked on the timeline without the shift, which may grow while this caller waits.
      const slot = Math.max(clock() - shift, nextFree, heldUntil - shift);
      if (maxWaitMs !== undefined && slot + shift - clock() > maxWaitMs) return false;
      nextFree = slot + intervalMs;
      // A slot given up by an aborted caller stays spent: handing it back could let two grants bunch up.
      // Due at its slot, after any hold, and once the grant `cap` back is a second old.
      const due = (): number => Math.max(slot + shift, heldUntil, recent.length < cap ? -Infinity : (recent[oldest] as number) + 1000);
      while (clock() < due()) await sleep(Math.ceil(due() - clock()), undefined, { signal });
      const now = clock();
      // Lateness against the timeline, a hold included: a stall or a hold longer than the catch-up
      // allowance moves the timeline on by the rest, so the callers behind keep their spacing after it.
      const late = now - (slot + shift);
      if (late > CATCH_UP_MS) shift += late - CATCH_UP_MS;
      if (recent.length < cap) recent.push(now);
      else {
        recent[oldest] = now;
        oldest = (oldest + 1) % cap;
      }
      return true;
    },
  };
}
