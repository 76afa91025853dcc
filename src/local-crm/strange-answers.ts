/**
 * Strange answers of the local CRM: the odd things a real CRM (or what stands in front of it) sends back,
 * as rules switched by `--strange-answer` and `POST /__admin/faults` (`strangeAnswer`). Each rule says
 * whether the request is processed first (the call stored, the upload kept) and only its answer is
 * broken, or whether something else answers in the CRM's place and nothing is stored:
 *
 * - `html`: a 200 with an HTML page (a login page, a captive portal, the web app): nothing stored;
 * - `redirect`: a 302 to `location` (another host by default): nothing stored;
 * - `invalid-json`: stored, then a 201 (the real status) whose JSON body is cut short;
 * - `endless-body`: stored, then the real status and a JSON body that never ends (a byte every 200 ms).
 *
 * How the sender must classify each is docs/architecture.md, "Delivery" → "Outcomes".
 */
import type { ServerResponse } from 'node:http';
import { FaultSettingError } from './options.ts';

/** The kinds of strange answer. */
export const STRANGE_ANSWER_KINDS = ['html', 'redirect', 'invalid-json', 'endless-body'] as const;

/** One kind of strange answer. */
export type StrangeAnswerKind = (typeof STRANGE_ANSWER_KINDS)[number];

/** Answer the next matching requests strangely. */
export interface StrangeAnswerRule {
  kind: StrangeAnswerKind;
  /** Which endpoint: call-data POSTs (default) or recording uploads. */
  on?: 'call-data' | 'upload';
  /** How many requests to answer so; absent = every matching one until cleared. */
  count?: number;
  /** Only call-data POSTs of this callId. */
  callId?: string;
  /** Where a `redirect` points; default another host (`http://127.0.0.2:9/moved`), never this server. */
  location?: string;
}

/** Default target of a `redirect`: another host, on a port nothing listens on. */
export const DEFAULT_REDIRECT_LOCATION = 'http://127.0.0.2:9/moved';

/** Whether the request is processed (stored) before the strange answer goes out. */
export function processedFirst(kind: StrangeAnswerKind): boolean {
  return kind === 'invalid-json' || kind === 'endless-body';
}

/** Check one rule from JSON; `field` names it in the error. */
export function checkStrangeAnswerRule(field: string, value: unknown): StrangeAnswerRule {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FaultSettingError(field, 'must be an object with a kind');
  const v = value as Record<string, unknown>;
  const known = new Set(['kind', 'on', 'count', 'callId', 'location']);
  for (const key of Object.keys(v)) if (!known.has(key)) throw new FaultSettingError(`${field}.${key}`, 'is not a strange-answer setting');
  if (typeof v.kind !== 'string' || !(STRANGE_ANSWER_KINDS as readonly string[]).includes(v.kind)) {
    throw new FaultSettingError(`${field}.kind`, `must be one of ${STRANGE_ANSWER_KINDS.join(', ')}, got ${JSON.stringify(v.kind)}`);
  }
  const rule: StrangeAnswerRule = { kind: v.kind as StrangeAnswerKind };
  if (v.on !== undefined) {
    if (v.on !== 'call-data' && v.on !== 'upload') throw new FaultSettingError(`${field}.on`, 'must be "call-data" or "upload"');
    rule.on = v.on;
  }
  if (v.count !== undefined) {
    if (typeof v.count !== 'number' || !Number.isInteger(v.count) || v.count < 1) throw new FaultSettingError(`${field}.count`, 'must be a whole number ≥ 1');
    rule.count = v.count;
  }
  if (v.callId !== undefined) {
    if (typeof v.callId !== 'string' || v.callId === '') throw new FaultSettingError(`${field}.callId`, 'must be a non-empty string');
    if (rule.on === 'upload') throw new FaultSettingError(`${field}.callId`, 'is not supported on uploads: they carry no callId');
    rule.callId = v.callId;
  }
  if (v.location !== undefined) {
    if (typeof v.location !== 'string' || !URL.canParse(v.location)) throw new FaultSettingError(`${field}.location`, 'must be an absolute URL');
    rule.location = v.location;
  }
  return rule;
}

/**
 * Parse the `--strange-answer` flag: `KIND[:COUNT][@upload]`, e.g. `html`, `invalid-json:1`,
 * `endless-body:2@upload`. Throws FaultSettingError naming the flag.
 */
export function parseStrangeAnswerFlag(text: string): StrangeAnswerRule {
  const m = /^([a-z-]+)(?::(\d+))?(?:@(call-data|upload))?$/.exec(text.trim());
  if (!m) throw new FaultSettingError('--strange-answer', `must be KIND[:COUNT][@upload] with KIND one of ${STRANGE_ANSWER_KINDS.join(', ')}, got "${text}"`);
  return checkStrangeAnswerRule('--strange-answer', {
    kind: m[1],
    ...(m[2] === undefined ? {} : { count: Number(m[2]) }),
    ...(m[3] === undefined ? {} : { on: m[3] }),
  });
}

/** The index of the first rule matching a request, or -1. */
export function matchStrangeAnswer(rules: readonly StrangeAnswerRule[], on: 'call-data' | 'upload', callId: string | null): number {
  return rules.findIndex((r) => (r.on ?? 'call-data') === on && (r.callId === undefined || r.callId === callId));
}

/** Rules after one use of rule `i` (its count spent, removed at zero). */
export function useStrangeAnswer(rules: readonly StrangeAnswerRule[], i: number): StrangeAnswerRule[] {
  const rule = rules[i];
  if (rule?.count === undefined) return [...rules];
  return rule.count > 1 ? rules.map((r, j) => (j === i ? { ...r, count: rule.count! - 1 } : r)) : rules.filter((_, j) => j !== i);
}

const LOGIN_PAGE = '<!doctype html><html><head><title>Sign in</title></head><body><form method="post" action="/login"><input name="user"><input name="password" type="password"></form></body></html>';

/**
 * Write the strange answer. `status` is what the CRM would have answered (used by the kinds that are
 * processed first). An endless body stops only when the client goes away or the server closes.
 */
export function sendStrangeAnswer(res: ServerResponse, rule: StrangeAnswerRule, status: number): void {
  switch (rule.kind) {
    case 'html':
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(LOGIN_PAGE) });
      res.end(LOGIN_PAGE);
      return;
    case 'redirect':
      res.writeHead(302, { location: rule.location ?? DEFAULT_REDIRECT_LOCATION, 'content-length': 0 });
      res.end();
      return;
    case 'invalid-json': {
      const cut = '{"success":true,"message":"Call data saved successfully","data":{"id":"';
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(cut) });
      res.end(cut);
      return;
    }
    case 'endless-body': {
      // Chunked, never finished: the client's own deadline has to end it.
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.write('{"success":true,"message":"');
      const timer = setInterval(() => {
        if (res.destroyed) clearInterval(timer);
        else res.write(' ');
      }, 200);
      timer.unref();
      res.once('close', () => clearInterval(timer));
      return;
    }
  }
}
