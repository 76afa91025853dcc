/**
 * Fault injection of the local CRM: the random faults (latency, 5xx, hang, reset), the sliding-window
 * rate limit, 429 storms and forced statuses. Decisions only; the server carries them out. A seeded PRNG
 * makes a fault sequence reproducible.
 */
import {
  checkForceRule,
  DEFAULT_FAULTS,
  FaultSettingError,
  mergeFaultSettings,
  type FaultSettings,
  type FaultsUpdate,
  type ForceStatusRule,
} from './options.ts';
import { checkStrangeAnswerRule, matchStrangeAnswer, useStrangeAnswer, type StrangeAnswerRule } from './strange-answers.ts';
import { mulberry32 } from './seeded-random.ts';

/** The kind of fault applied to a request, as logged in `/__admin/requests`. */
export type FaultKind = 'latency' | 'storm429' | 'rateLimit' | 'fail' | 'hang' | 'reset' | 'forceStatus' | 'uploadStatus' | 'strangeAnswer' | 'lostAnswer';

/** What to do with a request before its handler runs. */
export type GateDecision =
  | { kind: 'pass' }
  | { kind: 'storm429'; retryAfterS: number }
  | { kind: 'rateLimit'; retryAfterS: number }
  | { kind: 'fail'; status: 500 | 502 | 503 }
  | { kind: 'hang' }
  | { kind: 'reset' };

/** Everything `GET /__admin/faults` shows. */
export interface FaultState extends FaultSettings {
  storm429: { untilMs: number; retryAfterS: number } | null;
  forceStatus: ForceStatusRule[];
  uploadStatus: ForceStatusRule | null;
  strangeAnswer: StrangeAnswerRule[];
}

/** The fault state of one server. */
export class FaultInjector {
  #initial: FaultSettings;
  #settings: FaultSettings;
  #random: () => number;
  #storm: { untilMs: number; retryAfterS: number } | null = null;
  #forceRules: ForceStatusRule[] = [];
  #uploadRule: ForceStatusRule | null = null;
  #initialStrange: StrangeAnswerRule[];
  #strangeRules: StrangeAnswerRule[];
  // Times of the requests let through, oldest first, for the sliding window.
  #admitted: number[] = [];

  constructor(initial: Partial<FaultSettings>, seed?: number, strangeAnswers: readonly StrangeAnswerRule[] = []) {
    this.#initialStrange = strangeAnswers.map((r, i) => checkStrangeAnswerRule(`strangeAnswer[${i}]`, r));
    this.#strangeRules = this.#initialStrange;
    this.#initial = mergeFaultSettings(DEFAULT_FAULTS, initial);
    this.#settings = this.#initial;
    this.#random = mulberry32(seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /** Current settings. */
  get settings(): Readonly<FaultSettings> {
    return this.#settings;
  }

  /** A snapshot for the admin route. */
  state(now: number = Date.now()): FaultState {
    return {
      ...this.#settings,
      storm429: this.#storm && this.#storm.untilMs > now ? { ...this.#storm } : null,
      forceStatus: this.#forceRules.map((r) => ({ ...r })),
      uploadStatus: this.#uploadRule ? { ...this.#uploadRule } : null,
      strangeAnswer: this.#strangeRules.map((r) => ({ ...r })),
    };
  }

  /** Apply an admin update; throws FaultSettingError naming the bad field, changing nothing then. */
  update(body: unknown, now: number = Date.now()): void {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new FaultSettingError('body', 'must be a JSON object');
    const u = body as FaultsUpdate & Record<string, unknown>;
    const known = new Set(['latencyMs', 'failRate', 'hangRate', 'resetRate', 'rateLimitPerMin', 'rateLimitWindowMs', 'storm429', 'forceStatus', 'uploadStatus', 'strangeAnswer', 'ignoreIdempotency', 'lostAnswerRate']);
    for (const key of Object.keys(u)) if (!known.has(key)) throw new FaultSettingError(key, 'is not a fault setting');

    const settings = mergeFaultSettings(this.#settings, u);
    let storm = this.#storm;
    if (u.storm429 !== undefined) {
      if (u.storm429 === null) storm = null;
      else {
        const { forMs, retryAfterS } = u.storm429 as { forMs?: unknown; retryAfterS?: unknown };
        if (typeof forMs !== 'number' || !Number.isInteger(forMs) || forMs < 0) throw new FaultSettingError('storm429.forMs', 'must be a whole number of ms ≥ 0');
        if (retryAfterS !== undefined && (typeof retryAfterS !== 'number' || !Number.isInteger(retryAfterS) || retryAfterS < 0)) {
          throw new FaultSettingError('storm429.retryAfterS', 'must be a whole number ≥ 0');
        }
        storm = forMs === 0 ? null : { untilMs: now + forMs, retryAfterS: retryAfterS ?? Math.ceil(forMs / 1000) };
      }
    }
    let rules = this.#forceRules;
    if (u.forceStatus !== undefined) {
      const list: unknown[] = u.forceStatus === null ? [] : Array.isArray(u.forceStatus) ? u.forceStatus : [u.forceStatus];
      rules = list.map((r, i) => checkForceRule(Array.isArray(u.forceStatus) ? `forceStatus[${i}]` : 'forceStatus', r));
    }
    let uploadRule = this.#uploadRule;
    if (u.uploadStatus !== undefined) {
      uploadRule = u.uploadStatus === null ? null : checkForceRule('uploadStatus', u.uploadStatus);
      if (uploadRule?.callId !== undefined) throw new FaultSettingError('uploadStatus.callId', 'is not supported: uploads carry no callId');
    }

    let strange = this.#strangeRules;
    if (u.strangeAnswer !== undefined) {
      const list: unknown[] = u.strangeAnswer === null ? [] : Array.isArray(u.strangeAnswer) ? u.strangeAnswer : [u.strangeAnswer];
      strange = list.map((r, i) => checkStrangeAnswerRule(Array.isArray(u.strangeAnswer) ? `strangeAnswer[${i}]` : 'strangeAnswer', r));
    }

    if (settings.rateLimitWindowMs !== this.#settings.rateLimitWindowMs) this.#admitted = [];
    this.#strangeRules = strange;
    this.#settings = settings;
    this.#storm = storm;
    this.#forceRules = rules;
    this.#uploadRule = uploadRule;
  }

  /** Back to the settings the server started with, with no storm, rule or window history. */
  reset(): void {
    this.#settings = this.#initial;
    this.#storm = null;
    this.#forceRules = [];
    this.#uploadRule = null;
    this.#strangeRules = this.#initialStrange;
    this.#admitted = [];
  }

  /**
   * Decide the fate of one non-admin request, before latency. Storms and the rate limit come first:
   * a server that rejects cheaply does so before doing any work.
   */
  gate(now: number = Date.now()): GateDecision {
    if (this.#storm) {
      if (this.#storm.untilMs > now) return { kind: 'storm429', retryAfterS: this.#storm.retryAfterS };
      this.#storm = null;
    }
    const { rateLimitPerMin, rateLimitWindowMs } = this.#settings;
    if (rateLimitPerMin > 0) {
      const allowed = Math.ceil((rateLimitPerMin * rateLimitWindowMs) / 60_000);
      const from = now - rateLimitWindowMs;
      let drop = 0;
      while (drop < this.#admitted.length && (this.#admitted[drop] ?? 0) <= from) drop++;
      if (drop > 0) this.#admitted.splice(0, drop);
      if (this.#admitted.length >= allowed) {
        // The slot frees when the oldest admitted request leaves the window.
        const oldest = this.#admitted[0] ?? now;
        return { kind: 'rateLimit', retryAfterS: Math.max(1, Math.ceil((oldest + rateLimitWindowMs - now) / 1000)) };
      }
      this.#admitted.push(now);
    }
    const { hangRate, resetRate, failRate } = this.#settings;
    if (hangRate + resetRate + failRate === 0) return { kind: 'pass' };
    // One draw per request, split into bands, so that the rates are exact shares and independent of order.
    const r = this.#random();
    if (r < hangRate) return { kind: 'hang' };
    if (r < hangRate + resetRate) return { kind: 'reset' };
    if (r < hangRate + resetRate + failRate) {
      const statuses = [500, 502, 503] as const;
      return { kind: 'fail', status: statuses[Math.floor(this.#random() * statuses.length)] ?? 500 };
    }
    return { kind: 'pass' };
  }

  /**
   * Whether the answer to a call-data POST that was just stored is lost (`lostAnswerRate`). Drawn only
   * while the rate is set, so that with it off a seed gives the same fault sequence as before.
   */
  loseAnswer(): boolean {
    const rate = this.#settings.lostAnswerRate;
    return rate > 0 && this.#random() < rate;
  }

  /** The forced answer for a call-data POST of `callId`, if a rule matches (using up one of its count). */
  takeCallDataRule(callId: string | null): ForceStatusRule | null {
    const i = this.#forceRules.findIndex((r) => r.callId === undefined || r.callId === callId);
    if (i < 0) return null;
    const rule = this.#forceRules[i];
    if (!rule) return null;
    if (rule.count !== undefined) {
      const left = rule.count - 1;
      this.#forceRules = left > 0 ? this.#forceRules.map((r, j) => (j === i ? { ...r, count: left } : r)) : this.#forceRules.filter((_, j) => j !== i);
    }
    return rule;
  }

  /** The strange answer for a request to `on` (of `callId`), if a rule matches (using up one of its count). */
  takeStrangeAnswer(on: 'call-data' | 'upload', callId: string | null): StrangeAnswerRule | null {
    const i = matchStrangeAnswer(this.#strangeRules, on, callId);
    const rule = this.#strangeRules[i];
    if (rule === undefined) return null;
    this.#strangeRules = useStrangeAnswer(this.#strangeRules, i);
    return rule;
  }

  /** The forced answer for an upload, if a rule is set (using up one of its count). */
  takeUploadRule(): ForceStatusRule | null {
    const rule = this.#uploadRule;
    if (!rule) return null;
    if (rule.count !== undefined) this.#uploadRule = rule.count > 1 ? { ...rule, count: rule.count - 1 } : null;
    return rule;
  }
}
