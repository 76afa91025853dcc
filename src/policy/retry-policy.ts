/**
 * The retry policy as data (docs/architecture.md, "Delivery" → "Schedule"): one object holds every
 * number that decides when a failed or rate-limited attempt comes back, in the manner of ky's one object
 * of retry defaults and Svix's schedule in configuration. Normalised once at the edge (`retryPolicy`),
 * read everywhere else.
 *
 * A leaf module: it imports nothing, so that storage (the BullMQ store's backoff), configuration and
 * delivery can all read it without depending on one another.
 */

/** The default schedule: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h; the last step repeats. */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [
  5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000,
];

/** Fraction of a delay added or removed at random, so items that failed together do not return together. */
export const JITTER = 0.2;

/** Rate-limited waits an item may take before a 429 counts as a failed attempt (docs/architecture.md). */
export const MAX_RATE_LIMIT_WAITS = 100;

/** The longest Retry-After honoured: a server asking for longer is waited out this long, then asked again. */
export const DEFAULT_RETRY_AFTER_CAP_MS = 600_000;

/** When failed and rate-limited attempts come back, and when they stop. */
export interface RetryPolicy {
  /** Delays after the 1st, 2nd, … failed attempt, ms; attempts past the end reuse the last step. */
  readonly scheduleMs: readonly number[];
  /** Fraction of each delay added or removed at random (0 turns jitter off). */
  readonly jitter: number;
  /** Attempts an item may use; the last failed one makes it dead. */
  readonly maxAttempts: number;
  /** The longest Retry-After honoured, ms. */
  readonly retryAfterCapMs: number;
  /** Rate-limited waits (which spend no attempt) before a 429 counts as a failed attempt. */
  readonly maxRateLimitWaits: number;
}

/** The defaults: every attempt of the schedule plus the first one. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  scheduleMs: DEFAULT_RETRY_SCHEDULE_MS,
  jitter: JITTER,
  maxAttempts: DEFAULT_RETRY_SCHEDULE_MS.length + 1,
  retryAfterCapMs: DEFAULT_RETRY_AFTER_CAP_MS,
  maxRateLimitWaits: MAX_RATE_LIMIT_WAITS,
});

/**
 * A policy from the fields given, the defaults for the rest. `maxAttempts` defaults to one more than the
 * schedule's length (the schedule given, when one is).
 */
export function retryPolicy(fields: Partial<RetryPolicy> = {}): RetryPolicy {
  const scheduleMs = fields.scheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS;
  return Object.freeze({
    scheduleMs,
    jitter: fields.jitter ?? JITTER,
    maxAttempts: fields.maxAttempts ?? scheduleMs.length + 1,
    retryAfterCapMs: fields.retryAfterCapMs ?? DEFAULT_RETRY_AFTER_CAP_MS,
    maxRateLimitWaits: fields.maxRateLimitWaits ?? MAX_RATE_LIMIT_WAITS,
  });
}

/**
 * The delay before the next attempt, after `attempts` failed attempts (1 after the first failure).
 * Attempts past the end of the schedule reuse its last step. `random` is injectable so tests can seed it.
 */
export function nextDelay(attempts: number, scheduleMs: readonly number[], random: () => number = Math.random, jitter: number = JITTER): number {
  if (scheduleMs.length === 0) return 0;
  const index = Math.min(Math.max(attempts, 1), scheduleMs.length) - 1;
  const base = scheduleMs[index] ?? 0;
  // random() ∈ [0, 1) maps to a factor in [1 − jitter, 1 + jitter).
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}

/** `nextDelay` read from a policy. */
export function delayAfter(policy: RetryPolicy, attempts: number, random: () => number = Math.random): number {
  return nextDelay(attempts, policy.scheduleMs, random, policy.jitter);
}

/** True when `attempts` failed attempts leave no attempt under `maxAttempts`. */
export function isExhausted(attempts: number, maxAttempts: number): boolean {
  return attempts >= maxAttempts;
}

/** True when an item that has waited `waits` times may wait once more without spending an attempt. */
export function mayWaitAgain(policy: RetryPolicy, waits: number): boolean {
  return waits < policy.maxRateLimitWaits;
}
