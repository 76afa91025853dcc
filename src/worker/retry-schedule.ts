/**
 * The retry schedule (docs/architecture.md, "Delivery" → "Schedule"): a list of delays, the last one repeated,
 * with ±20% jitter so that items that failed together do not come back together (Svix's approach).
 */

/** Fraction of a delay added or removed at random. */
export const JITTER = 0.2;

/**
 * The delay before the next attempt, after `attempts` failed attempts (1 after the first failure).
 * Attempts past the end of the schedule reuse its last step. `random` is injectable so tests can seed it.
 */
export function nextDelay(attempts: number, scheduleMs: readonly number[], random: () => number = Math.random): number {
  if (scheduleMs.length === 0) return 0;
  const index = Math.min(Math.max(attempts, 1), scheduleMs.length) - 1;
  const base = scheduleMs[index] ?? 0;
  // random() ∈ [0, 1) maps to a factor in [1 − JITTER, 1 + JITTER).
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

/** True when `attempts` failed attempts leave no attempt under `maxAttempts`. */
export function isExhausted(attempts: number, maxAttempts: number): boolean {
  return attempts >= maxAttempts;
}
