/**
 * The settings of the local CRM: what it is started with, and the fault settings that the admin route
 * `POST /__admin/faults` changes at run time. Checked in one place so that the CLI, the admin route and
 * in-process callers reject the same bad values with the same words.
 */

import type { StrangeAnswerRule } from './strange-answers.ts';

/** Faults applied to every non-admin request. */
export interface FaultSettings {
  /** Delay before handling, in ms; a request whose client leaves meanwhile is dropped unprocessed. */
  latencyMs: number;
  /** Share (0–1) of requests answered 500, 502 or 503 at random. */
  failRate: number;
  /** Share (0–1) of requests never answered (until the client gives up or the server closes). */
  hangRate: number;
  /** Share (0–1) of requests whose socket is destroyed without an answer. */
  resetRate: number;
  /** Requests allowed per minute, scaled to the window; 0 = no limit. */
  rateLimitPerMin: number;
  /** Length of the sliding window of the rate limit, in ms. */
  rateLimitWindowMs: number;
  /**
   * Store every valid call-data POST as a new call, ignoring `Idempotency-Key` and the callId already
   * held (no replay, no 409), as a CRM that does not honour the key would: a repeat is a duplicate.
   */
  ignoreIdempotency: boolean;
  /**
   * Share (0–1) of call-data POSTs that are stored and then never answered: the socket is destroyed
   * instead of the 201 (the answer lost on the way back). Drawn apart from the other rates.
   */
  lostAnswerRate: number;
}

/** Options of `startLocalCrm`. */
export interface LocalCrmOptions extends Partial<FaultSettings> {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Keep calls and uploads as files under this folder (reloaded on start); default in memory. */
  dataDir?: string;
  /** Seed of the fault PRNG, for reproducible fault sequences; default random. */
  seed?: number;
  /** Strange answers from the start (`--strange-answer`); see `strange-answers.ts`. */
  strangeAnswer?: StrangeAnswerRule[];
}

/** Answer the next matching call-data POSTs (or uploads) with a fixed status. */
export interface ForceStatusRule {
  status: number;
  /** How many requests to answer so; absent = every matching one until cleared. */
  count?: number;
  /** Only call-data POSTs of this callId (call-data only). */
  callId?: string;
  /** `message` of the answer's body. */
  message?: string;
  /** Adds a `Retry-After` header (seconds). */
  retryAfterS?: number;
}

/** Body of `POST /__admin/faults`; every field is optional and only the given ones change. */
export interface FaultsUpdate extends Partial<FaultSettings> {
  /** Answer every non-admin request 429 for `forMs`; null or `forMs: 0` ends a storm. */
  storm429?: { forMs: number; retryAfterS?: number } | null;
  /** Replaces the call-data rules; null clears them. */
  forceStatus?: ForceStatusRule | ForceStatusRule[] | null;
  /** Replaces the upload rule; null clears it. */
  uploadStatus?: Omit<ForceStatusRule, 'callId'> | null;
  /** Replaces the strange-answer rules (`strange-answers.ts`); null clears them. */
  strangeAnswer?: StrangeAnswerRule | StrangeAnswerRule[] | null;
}

/** Defaults: no fault at all, a 60 s window when a rate limit is set. */
export const DEFAULT_FAULTS: Readonly<FaultSettings> = {
  latencyMs: 0,
  failRate: 0,
  hangRate: 0,
  resetRate: 0,
  rateLimitPerMin: 0,
  rateLimitWindowMs: 60_000,
  ignoreIdempotency: false,
  lostAnswerRate: 0,
};

/** A fault setting with a bad value; `field` is the option's name. */
export class FaultSettingError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field} ${message}`);
    this.field = field;
  }
}

/**
 * Merge `update` into `current`, checking each given value. Throws FaultSettingError naming the first
 * bad field; `current` is left untouched then.
 */
export function mergeFaultSettings(current: FaultSettings, update: Partial<Record<keyof FaultSettings, unknown>>): FaultSettings {
  const next = { ...current };
  const rate = (key: 'failRate' | 'hangRate' | 'resetRate' | 'lostAnswerRate'): void => {
    const v = update[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw new FaultSettingError(key, `must be a number between 0 and 1, got ${JSON.stringify(v)}`);
    next[key] = v;
  };
  const whole = (key: 'latencyMs' | 'rateLimitPerMin' | 'rateLimitWindowMs', min: number): void => {
    const v = update[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new FaultSettingError(key, `must be a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
    next[key] = v;
  };
  rate('failRate');
  rate('hangRate');
  rate('resetRate');
  rate('lostAnswerRate');
  if (update.ignoreIdempotency !== undefined) {
    if (typeof update.ignoreIdempotency !== 'boolean') throw new FaultSettingError('ignoreIdempotency', `must be true or false, got ${JSON.stringify(update.ignoreIdempotency)}`);
    next.ignoreIdempotency = update.ignoreIdempotency;
  }
  whole('latencyMs', 0);
  whole('rateLimitPerMin', 0);
  whole('rateLimitWindowMs', 1);
  if (next.failRate + next.hangRate + next.resetRate > 1) {
    throw new FaultSettingError('failRate', 'plus hangRate plus resetRate must not exceed 1');
  }
  return next;
}

/** Check one force-status rule from JSON; `field` names it in the error. */
export function checkForceRule(field: string, value: unknown): ForceStatusRule {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FaultSettingError(field, 'must be an object with a status');
  const v = value as Record<string, unknown>;
  if (typeof v.status !== 'number' || !Number.isInteger(v.status) || v.status < 200 || v.status > 599) {
    throw new FaultSettingError(`${field}.status`, `must be an HTTP status between 200 and 599, got ${JSON.stringify(v.status)}`);
  }
  const rule: ForceStatusRule = { status: v.status };
  if (v.count !== undefined) {
    if (typeof v.count !== 'number' || !Number.isInteger(v.count) || v.count < 1) throw new FaultSettingError(`${field}.count`, 'must be a whole number ≥ 1');
    rule.count = v.count;
  }
  if (v.callId !== undefined) {
    if (typeof v.callId !== 'string' || v.callId === '') throw new FaultSettingError(`${field}.callId`, 'must be a non-empty string');
    rule.callId = v.callId;
  }
  if (v.message !== undefined) {
    if (typeof v.message !== 'string') throw new FaultSettingError(`${field}.message`, 'must be a string');
    rule.message = v.message;
  }
  if (v.retryAfterS !== undefined) {
    if (typeof v.retryAfterS !== 'number' || !Number.isInteger(v.retryAfterS) || v.retryAfterS < 0) throw new FaultSettingError(`${field}.retryAfterS`, 'must be a whole number ≥ 0');
    rule.retryAfterS = v.retryAfterS;
  }
  return rule;
}
