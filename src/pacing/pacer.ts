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
  /** Resolves when the caller may send one request. Rejects with the signal's reason when aborted. */
  acquire(signal?: AbortSignal): Promise<void>;
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
  acquire: (signal) => (signal?.aborted ? Promise.reject(signal.reason as Error) : Promise.resolve()),
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
 * An in-process pacer granting one request every `pacingIntervalMs(requestsPerMinute)` ms. Slots are reserved
 * at call time (next = max(now, last + interval)), so concurrent callers are spread out in order
 * rather than released together. `0` turns pacing off (only holds then make callers wait).
 */
export function createPacer(requestsPerMinute: number, clock: () => number = () => performance.now()): Pacer {
  const intervalMs = pacingIntervalMs(requestsPerMinute);
  let nextFree = -Infinity;
  let lastGrant = -Infinity;
  let heldUntil = -Infinity;
  return {
    intervalMs,
    delayMs() {
      return Math.max(0, nextFree - clock(), heldUntil - clock());
    },
    holdFor(ms) {
      if (ms > 0) heldUntil = Math.max(heldUntil, clock() + ms);
    },
    async acquire(signal) {
      signal?.throwIfAborted();
      if (intervalMs === 0) {
        // Off: a hold is the only wait, and a later hold (another 429 meanwhile) extends it.
        while (clock() < heldUntil) await sleep(Math.ceil(heldUntil - clock()), undefined, { signal });
        return;
      }
      const slot = Math.max(clock(), nextFree, heldUntil);
      nextFree = slot + intervalMs;
      // A slot given up by an aborted caller stays spent: handing it back could let two grants bunch up.
      // The grant also waits a full interval after the previous one: a timer that fired late must not
      // leave the next grant closer than the interval.
      const earliest = (): number => Math.max(slot, lastGrant + intervalMs, heldUntil);
      while (clock() < earliest()) await sleep(Math.ceil(earliest() - clock()), undefined, { signal });
      lastGrant = clock();
      nextFree = Math.max(nextFree, lastGrant + intervalMs);
    },
  };
}
