/**
 * What to do with the result of one request to the CRM (docs/architecture.md, "Delivery" → "Outcomes"). Pure and
 * table-driven so that every status is decided in one place and tested row by row.
 */
import { DEFAULT_RETRY_AFTER_CAP_MS } from '../policy/retry-policy.ts';
import type { CrmResult } from './crm-client.ts';

export { DEFAULT_RETRY_AFTER_CAP_MS };

/** The decision for one result. */
export type Outcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; reason: string }
  /** `ms: null` means "no usable Retry-After: wait the next step of the schedule". */
  | { kind: 'wait'; ms: number | null; reason: string }
  | { kind: 'dead'; reason: string };

/** Context of `classifyOutcome`. */
export interface ClassifyContext {
  /** Longest Retry-After honoured; longer values are cut to it. Default 10 minutes. */
  retryAfterCapMs?: number;
  /** Clock used for HTTP-date Retry-After values; default `Date.now()`. */
  now?: number;
  /**
   * The request is of use only with the CRM's JSON answer (the recording upload, whose `data.url` the
   * call links to): a 2xx whose body is not valid JSON is then asked again rather than taken as done.
   */
  needsAnswer?: boolean;
}

// Statuses that say "try the same request again later". Other 5xx are also retried (see below).
const RETRY_STATUSES = new Set([408, 425, 500, 502, 503, 504]);

/**
 * Parse a `Retry-After` value (delta-seconds or HTTP-date) into milliseconds from `now`, never
 * negative. Returns null when the value is absent or not understood, so that the caller falls back to
 * its own schedule rather than guessing.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (text === '') return null;
  // RFC 9110 says whole seconds; a decimal is tolerated because some proxies send one.
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // Anything else must look like a date: Date.parse alone accepts bare numbers such as "-1".
  if (!/[A-Za-z]/.test(text)) return null;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return null;
  return Math.max(0, at - now);
}

/** Classify one CRM result. */
export function classifyOutcome(result: CrmResult, ctx: ClassifyContext = {}): Outcome {
  if (result.kind === 'error') {
    // A recording that cannot be read will not become readable by sending again.
    if (result.error === 'file') return { kind: 'dead', reason: `file: ${result.message}` };
    return { kind: 'retry', reason: `${result.error}: ${result.message}` };
  }

  const { status, headers } = result;

  if (status >= 200 && status < 300) {
    // An HTML page is not the CRM's API speaking (a login or captive-portal page, a proxy, or a URL
    // that points at the web app): it proves nothing was stored. Asking again under the same key is
    // safe, and the schedule bounds it (docs/architecture.md, "Delivery" → "Outcomes").
    if (isHtmlPage(result)) return { kind: 'retry', reason: `HTTP ${status} with an HTML page${htmlTitle(result.body)}, not the CRM's JSON answer` };
    // The status says it was stored, but the answer we need cannot be read: the same key makes the CRM
    // answer again from its record, without storing a second copy.
    if (ctx.needsAnswer === true && !isJsonObject(result.body)) {
      return { kind: 'retry', reason: `HTTP ${status} with an answer that is not valid JSON: ${crmMessage(result.body)}` };
    }
    return { kind: 'delivered' };
  }
  // The CRM already holds this call: our earlier attempt (or a copy of it) got through.
  if (status === 409) return { kind: 'delivered' };
  // Only failures carry the CRM's words: a delivered call (every call, at full speed) needs none.
  const reason = `HTTP ${status}: ${crmMessage(result.body)}`;

  if (status >= 300 && status < 400) {
    // Redirects are not followed: a POST replayed elsewhere could deliver a call twice or leak the token.
    const location = headers['location'];
    return { kind: 'dead', reason: `${reason} (redirect to ${location ?? 'no Location'} not followed)` };
  }

  if (status === 429 || status === 503) {
    const cap = ctx.retryAfterCapMs ?? DEFAULT_RETRY_AFTER_CAP_MS;
    const raw = parseRetryAfter(headers['retry-after'], ctx.now ?? Date.now());
    if (status === 429) return { kind: 'wait', ms: raw === null ? null : Math.min(raw, cap), reason };
    // A 503 is only a wait when the server says how long; otherwise it is an ordinary failed attempt.
    if (raw !== null) return { kind: 'wait', ms: Math.min(raw, cap), reason };
    return { kind: 'retry', reason };
  }

  if (RETRY_STATUSES.has(status)) return { kind: 'retry', reason };
  // A refused key is about the sender, not the call: dead-lettering would turn a key rotation into a
  // dead-letter list to replay by hand, while a retry delivers by itself once the key is fixed.
  if (status === 401 || status === 403) return { kind: 'retry', reason: `${reason} (is CRM_API_KEY right?)` };
  if (status >= 400 && status < 500) return { kind: 'dead', reason };
  // Other 5xx (501, 505, 507…) and odd statuses: retrying is bounded by the schedule, and dropping a
  // call on an unexpected server state would lose data.
  return { kind: 'retry', reason };
}

/** True when a response is an HTML page (by its content type, or by a body that starts like one). */
export function isHtmlPage(result: Extract<CrmResult, { kind: 'response' }>): boolean {
  const type = result.headers['content-type'] ?? '';
  if (/\btext\/html\b|\bapplication\/xhtml\+xml\b/i.test(type)) return true;
  return typeof result.body === 'string' && /^\s*<(!doctype\s+html|html)\b/i.test(result.body);
}

// The page's <title>, which names it better than its markup does.
function htmlTitle(body: unknown): string {
  const title = typeof body === 'string' ? /<title[^>]*>([^<]*)<\/title>/i.exec(body)?.[1]?.trim() : undefined;
  return title ? ` ("${shorten(title, 80)}")` : '';
}

function isJsonObject(body: unknown): boolean {
  return body !== null && typeof body === 'object' && !Array.isArray(body);
}

/** The CRM's own words from a response body, short enough for a log line or a dead-letter reason. */
export function crmMessage(body: unknown): string {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const obj = body as Record<string, unknown>;
    const main = typeof obj.message === 'string' ? obj.message : typeof obj.error === 'string' ? obj.error : null;
    const fields = fieldErrors(obj.errors);
    if (main !== null) return shorten(fields ? `${main} (${fields})` : main);
    if (fields) return shorten(fields);
    return shorten(JSON.stringify(body));
  }
  if (typeof body === 'string') return body.trim() === '' ? '(empty body)' : shorten(body.trim());
  if (body === null || body === undefined) return '(empty body)';
  return shorten(JSON.stringify(body));
}

// A 400 usually lists the offending fields; the first few tell an operator what to fix.
function fieldErrors(errors: unknown): string {
  if (!Array.isArray(errors)) return '';
  return errors
    .slice(0, 3)
    .map((e: unknown) => {
      if (e === null || typeof e !== 'object') return String(e);
      const { field, message } = e as Record<string, unknown>;
      return [field, message].filter((x) => typeof x === 'string').join(' ');
    })
    .filter((s) => s !== '')
    .join('; ');
}

function shorten(text: string, max = 300): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}
