/**
 * Alerts to a webhook (issue 9, `CRM_ALERT_WEBHOOK_URL`): a JSON POST with a Slack-compatible `text`
 * plus structured fields, when a call goes dead and when the oldest undelivered call is older than
 * `CRM_ALERT_BACKLOG_S`. At most one alert per kind per 5 minutes (per process): dead calls that come
 * within the window are gathered and sent as one alert when it ends, so none goes unmentioned and an
 * outage never floods the channel. An alert never carries a phone number, an email, a key or a payload:
 * the CRM's message is masked and known secrets are blanked, and only ids, counts and statuses are sent.
 */
import { request } from 'undici';
import { formatDuration } from '../config/duration.ts';
import type { Logger } from '../log/logger.ts';
import { silentLogger } from '../log/logger.ts';
import { maskText } from '../log/mask.ts';
import type { OutboxCounts, OutboxItem, Settlement } from '../outbox/outbox-store.ts';

/** The two kinds of alert. */
export type AlertKind = 'dead' | 'backlog';

/** At most one alert of a kind per this long (issue 9). */
export const ALERT_MIN_INTERVAL_MS = 5 * 60_000;

/** How long one webhook POST may take. */
export const ALERT_TIMEOUT_MS = 10_000;

/** Most callIds listed in one dead alert (the count says how many there were). */
export const MAX_LISTED_CALL_IDS = 20;

/** Longest reason carried by an alert. */
const MAX_REASON_CHARS = 300;

/** A call that went dead, as the alert needs it. */
export interface DeadCall {
  callId: string;
  /** Attempts used, the last one included. */
  attempts: number;
  status: number | null;
  error: string;
}

/** The body of a dead-letter alert. */
export interface DeadAlertBody {
  text: string;
  kind: 'dead';
  /** Which process sent it (`worker`, `dashboard`). */
  source: string;
  /** When it was sent, ISO. */
  at: string;
  /** Calls that went dead since the previous dead alert of this process, this one's included. */
  count: number;
  /** The latest of them. */
  callId: string;
  /** All of them, oldest first, at most `MAX_LISTED_CALL_IDS`. */
  callIds: string[];
  /** Of the latest: attempts used, HTTP status of the last attempt, and why (masked). */
  attempts: number;
  status: number | null;
  reason: string;
}

/** The body of a backlog alert. */
export interface BacklogAlertBody {
  text: string;
  kind: 'backlog';
  source: string;
  at: string;
  /** When the oldest undelivered call was enqueued, ISO. */
  oldestPendingAt: string;
  /** Its age, whole seconds. */
  oldestPendingAgeS: number;
  thresholdS: number;
  pending: number;
  in_flight: number;
  dead: number;
}

/** Options of `createAlerter`. */
export interface AlerterOptions {
  /** Where alerts are POSTed; never logged or shown (a Slack webhook URL is itself a secret). */
  webhookUrl: string;
  /** Which process sends them, in the body's `source`. */
  source: string;
  /** Default `ALERT_MIN_INTERVAL_MS` (5 min). */
  minIntervalMs?: number;
  /** Default `ALERT_TIMEOUT_MS`. */
  timeoutMs?: number;
  logger?: Logger;
  now?: () => number;
  /** Values that must never appear in an alert (the API key, tokens): blanked wherever they occur. */
  secrets?: readonly (string | null | undefined)[];
}

/** Sends alerts; see the module comment. */
export interface Alerter {
  /** A call went dead: alert now, or with the next alert once the window allows. */
  dead(call: DeadCall): void;
  /**
   * Check the backlog against `thresholdS`: alerts (when the window allows) when the oldest undelivered
   * call is older than that. Returns whether it is.
   */
  backlog(counts: OutboxCounts, thresholdS: number): boolean;
  /** Wait for alerts being sent; dead calls still held back by the window are dropped (and logged). */
  close(): Promise<void>;
  /** POSTs made so far. */
  readonly sent: number;
}

/** Mask personal data, blank secrets, keep one line of bounded length. */
export function scrubText(text: string, secrets: readonly (string | null | undefined)[] = []): string {
  let out = maskText(text.replace(/\s+/g, ' ').trim());
  for (const secret of secrets) {
    // A very short value would blank innocent text and protects nothing.
    if (secret && secret.length >= 4) out = out.split(secret).join('***');
  }
  return out.length > MAX_REASON_CHARS ? `${out.slice(0, MAX_REASON_CHARS - 1)}…` : out;
}

/** The body of a dead alert for `calls` (oldest first, at least one). */
export function deadAlertBody(calls: readonly DeadCall[], source: string, at: number, secrets: readonly (string | null | undefined)[] = []): DeadAlertBody {
  const latest = calls.at(-1);
  if (latest === undefined) throw new RangeError('a dead alert needs at least one call');
  const callId = scrubText(latest.callId, secrets);
  const reason = scrubText(latest.error, secrets);
  const attempts = `${latest.attempts} attempt${latest.attempts === 1 ? '' : 's'}`;
  // The worker's reasons mostly begin with the status already (`HTTP 400: …`).
  const status = latest.status === null ? 'no HTTP status' : `HTTP ${latest.status}`;
  const why = reason.startsWith(status) ? reason : `${status}: ${reason}`;
  const text =
    calls.length === 1
      ? `crm-upload (${source}): call ${callId} went dead after ${attempts} (${why}). Replay it with \`crm-upload dead-letter replay ${callId}\` once the cause is fixed.`
      : `crm-upload (${source}): ${calls.length} calls went dead since the last alert; the latest, ${callId}, after ${attempts} (${why}). See \`crm-upload dead-letter list\`.`;
  return {
    text,
    kind: 'dead',
    source,
    at: new Date(at).toISOString(),
    count: calls.length,
    callId,
    callIds: calls.slice(0, MAX_LISTED_CALL_IDS).map((c) => scrubText(c.callId, secrets)),
    attempts: latest.attempts,
    status: latest.status,
    reason,
  };
}

/** The body of a backlog alert; `counts.oldestPendingAt` must be set. */
export function backlogAlertBody(counts: OutboxCounts, thresholdS: number, source: string, at: number): BacklogAlertBody {
  const oldest = counts.oldestPendingAt ?? at;
  const ageMs = Math.max(0, at - oldest);
  return {
    text:
      `crm-upload (${source}): backlog — the oldest undelivered call was enqueued ${formatDuration(ageMs)} ago ` +
      `(threshold ${formatDuration(thresholdS * 1000)}); ${counts.pending} pending, ${counts.in_flight} in flight, ${counts.dead} dead.`,
    kind: 'backlog',
    source,
    at: new Date(at).toISOString(),
    oldestPendingAt: new Date(oldest).toISOString(),
    oldestPendingAgeS: Math.floor(ageMs / 1000),
    thresholdS,
    pending: counts.pending,
    in_flight: counts.in_flight,
    dead: counts.dead,
  };
}

/** The dead call a worker settlement reports, or null when the settlement is not a dead one. */
export function deadCallOf(settlement: Settlement, item: OutboxItem): DeadCall | null {
  if (settlement.kind !== 'dead') return null;
  return {
    callId: item.callId,
    attempts: item.attempts + (settlement.countAttempt ? 1 : 0),
    status: settlement.status,
    error: settlement.error,
  };
}

/** Create an alerter posting to `options.webhookUrl`. */
export function createAlerter(options: AlerterOptions): Alerter {
  const minIntervalMs = options.minIntervalMs ?? ALERT_MIN_INTERVAL_MS;
  const timeoutMs = options.timeoutMs ?? ALERT_TIMEOUT_MS;
  const log = options.logger ?? silentLogger();
  const now = options.now ?? Date.now;
  const secrets = [...(options.secrets ?? []), options.webhookUrl];
  const lastSent: Record<AlertKind, number> = { dead: Number.NEGATIVE_INFINITY, backlog: Number.NEGATIVE_INFINITY };
  const heldDead: DeadCall[] = [];
  let deadTimer: NodeJS.Timeout | null = null;
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let closed = false;

  async function post(body: DeadAlertBody | BacklogAlertBody): Promise<void> {
    sent += 1;
    try {
      const res = await request(options.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'crm-upload-alerts' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode >= 300) log.warn({ kind: body.kind, status: res.statusCode }, 'the alert webhook refused an alert');
    } catch (err) {
      // Not retried: the next alert of the kind says what is still wrong, and the dead-letter list keeps every call.
      log.warn({ kind: body.kind, err: scrubText(err instanceof Error ? err.message : String(err), secrets) }, 'could not send an alert');
    }
  }

  function send(body: DeadAlertBody | BacklogAlertBody): void {
    // Counted as sent when tried: a failing webhook must not be hammered either.
    lastSent[body.kind] = now();
    const task = post(body);
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  }

  function flushDead(): void {
    deadTimer = null;
    if (closed || heldDead.length === 0) return;
    const calls = heldDead.splice(0);
    send(deadAlertBody(calls, options.source, now(), secrets));
  }

  return {
    get sent() {
      return sent;
    },
    dead(call) {
      if (closed) return;
      heldDead.push(call);
      const wait = lastSent.dead + minIntervalMs - now();
      if (wait <= 0) {
        flushDead();
      } else if (deadTimer === null) {
        deadTimer = setTimeout(flushDead, wait);
        deadTimer.unref();
      }
    },
    backlog(counts, thresholdS) {
      if (counts.oldestPendingAt === null) return false;
      const t = now();
      if (t - counts.oldestPendingAt <= thresholdS * 1000) return false;
      if (!closed && t - lastSent.backlog >= minIntervalMs) send(backlogAlertBody(counts, thresholdS, options.source, t));
      return true;
    },
    async close() {
      closed = true;
      if (deadTimer !== null) clearTimeout(deadTimer);
      deadTimer = null;
      if (heldDead.length > 0) log.info({ calls: heldDead.length }, 'dead-letter alerts held back by the 5-minute limit were not sent; see `crm-upload dead-letter list`');
      heldDead.length = 0;
      await Promise.allSettled([...inFlight]);
    },
  };
}
