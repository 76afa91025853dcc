/**
 * One delivery attempt for one leased item: the recording step (when the call has a recording that is
 * not settled yet), then — when an earlier attempt was uncertain — the question whether the CRM already
 * holds the call (docs/architecture.md, "Delivery" → "Verify before re-sending"), then the call-data POST,
 * each paced, and the outcome turned into a Settlement that says whether the CRM may now hold the call.
 */
import { attemptCertainty } from '../crm/attempt-certainty.ts';
import { classifyOutcome, type Outcome } from '../crm/classify-outcome.ts';
import type { CrmClient, CrmResult } from '../crm/crm-client.ts';
import { idempotencyKey } from '../crm/idempotency.ts';
import { failPoint } from '../failpoints/failpoints.ts';
import { steadyNow } from '../time/steady-clock.ts';
import type { AttemptLogEntry, OutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';
import { withRecording } from '../payload/build-payload.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import type { Pacer } from '../pacing/pacer.ts';
import { runRecordingStep, stablePollMs, type AudioFigures } from './recording-step.ts';
import type { ResendVerifier, VerifyCheck } from './verify-step.ts';
import { delayAfter, isExhausted, mayWaitAgain, type RetryPolicy } from '../policy/retry-policy.ts';

/** Delivery settings used by one attempt. */
export interface DeliverySettings {
  /** When failed and rate-limited attempts come back, and when they stop. */
  retryPolicy: RetryPolicy;
  recordingWaitMs: number;
  timeoutMs: number;
}

/** What one attempt needs besides the item. */
export interface DeliverContext {
  store: OutboxStore;
  client: CrmClient;
  pacer: Pacer;
  settings: DeliverySettings;
  /** Aborted when the worker stops and the grace period is over. */
  signal?: AbortSignal;
  probe?: (path: string) => Promise<AudioFigures>;
  now?: () => number;
  random?: () => number;
  /** Asks the CRM before re-sending an uncertain item; none: never asked (`CRM_VERIFY_BEFORE_RESEND=never`). */
  verifier?: ResendVerifier;
}

/** The settlement of an attempt, with what the attempt log line reports. */
export interface AttemptReport {
  settlement: Settlement;
  /** Which request decided the outcome, or null when no request was made. */
  step: 'recording' | 'verify' | 'call-data' | null;
  status: number | null;
  /** Time spent in HTTP requests (pacing excluded). */
  durationMs: number;
  /** Set when the call went (or will go) out without its recording. */
  recordingNote: string | null;
  /** Bytes of the recording this attempt uploaded (metrics); absent when it uploaded none. */
  uploadedBytes?: number;
}

/**
 * Run one attempt. Never rejects for CRM failures; rejects only when aborted or the store fails. The
 * settlement carries the attempt's requests as `log`, for the item's history.
 */
export async function deliverItem(item: OutboxItem, ctx: DeliverContext): Promise<AttemptReport> {
  const prepared = await settleRecording(item, ctx);
  if ('report' in prepared) return prepared.report;

  // An earlier attempt may have reached the CRM: ask before sending again, with the payload as it would
  // go out now (the checkpointed recording URL included). Certain failures need no question.
  let verified: VerifyCheck | null = null;
  if (item.uncertain && ctx.verifier?.active) {
    verified = await ctx.verifier.check(item.callId, prepared.payload, ctx);
    const settled = settleFromListing(item, verified, prepared, ctx);
    if (settled !== null) return settled;
  }
  const verifyLog = verified === null ? [] : [logEntry(item, 'verify', verified.result, verified.verdict.kind === 'absent' ? 'absent' : 'unverified', verified.verdict.kind === 'unverified' ? verified.verdict.reason : null, ctx)];
  const verifyMs = verified?.result.durationMs ?? 0;

  // The POST must end before the lease does (the recording step, the listing and the wait for a pacer
  // slot take part of it): past the lease another worker may take the item over, find nothing yet in the
  // CRM and send it too. A slot further away than the lease allows is not taken at all, so that items
  // leased ahead of a busy shared timeline give their place up without spending requests of the limit.
  const log = [...prepared.log, ...verifyLog];
  const durationMs = prepared.durationMs + verifyMs;
  const now = (ctx.now ?? steadyNow)();
  const slotWaitMs = item.leaseUntil === null ? undefined : item.leaseUntil - now - ctx.settings.timeoutMs;
  const tooLate = (): AttemptReport | null => tooLateToSend(item, ctx, log, durationMs, prepared.recordingNote);
  if (slotWaitMs !== undefined && slotWaitMs < 0) return tooLate() as AttemptReport;
  const granted = await ctx.pacer.acquire(ctx.signal, slotWaitMs);
  const late = granted ? tooLate() : notSentReport(item, ctx, log, durationMs, prepared.recordingNote, 'no pacer slot before a request timeout of the lease is left');
  if (late !== null) return late;
  const result = await ctx.client.postCallData(prepared.payload, { idempotencyKey: idempotencyKey(item.callId, 'call-data'), signal: ctx.signal });
  if (result.kind === 'response' && result.status < 300) failPoint('after-post');
  const { settlement, status } = decide(item, classifyOutcome(result, { retryAfterCapMs: ctx.settings.retryPolicy.retryAfterCapMs }), result, ctx);
  // The CRM may now hold the call when this POST was uncertain, or when an earlier uncertain attempt was
  // not ruled out by a listing that found nothing (docs/architecture.md, "Delivery" → "Uncertain attempts").
  const postUncertain = attemptCertainty(result).uncertain;
  const uncertain = postUncertain || (item.uncertain && verified?.verdict.kind !== 'absent');
  const postLog = [...log, { ...logEntry(item, 'call-data', result, settlement.kind, errorOf(settlement), ctx), uncertain: postUncertain }];
  return {
    settlement: { ...settlement, log: postLog, uncertain },
    status,
    step: 'call-data',
    durationMs: durationMs + result.durationMs,
    recordingNote: prepared.recordingNote,
    ...(prepared.uploadedBytes === undefined ? {} : { uploadedBytes: prepared.uploadedBytes }),
  };
}

/**
 * When less than a request timeout of the lease is left, the report of an attempt that ends without its
 * POST: due again at once, without spending an attempt (as a recording not ready yet), its `uncertain`
 * flag left as it was; the next lease gives the full time. Null when there is time to send.
 */
function tooLateToSend(
  item: OutboxItem,
  ctx: Pick<DeliverContext, 'now' | 'settings'>,
  log: AttemptLogEntry[],
  durationMs: number,
  recordingNote: string | null,
): AttemptReport | null {
  const now = (ctx.now ?? steadyNow)();
  if (item.leaseUntil === null || item.leaseUntil - now >= ctx.settings.timeoutMs) return null;
  return notSentReport(item, ctx, log, durationMs, recordingNote, `${Math.max(0, Math.round(item.leaseUntil - now))} ms of the lease left, less than a request timeout`);
}

/** An attempt that ends without its POST, due again at once, no attempt spent (see `tooLateToSend`). */
function notSentReport(item: OutboxItem, ctx: Pick<DeliverContext, 'now'>, log: AttemptLogEntry[], durationMs: number, recordingNote: string | null, why: string): AttemptReport {
  const now = (ctx.now ?? steadyNow)();
  const settlement: Settlement = { callId: item.callId, kind: 'wait', nextAttemptAt: now, status: null, error: `not sent: ${why}`, log };
  return { settlement, step: null, status: null, durationMs, recordingNote };
}

/**
 * The report of an attempt that the listing settled without a POST: the CRM holds the call with the same
 * content (delivered) or with other content (dead: a conflict a person must look at, never overwritten).
 * Null when the POST must go out (absent, or the listing could not tell).
 */
function settleFromListing(
  item: OutboxItem,
  check: VerifyCheck,
  prepared: { durationMs: number; recordingNote: string | null; log: AttemptLogEntry[]; uploadedBytes?: number },
  ctx: Pick<DeliverContext, 'now'>,
): AttemptReport | null {
  const { verdict, result } = check;
  const status = result.kind === 'response' ? result.status : null;
  let settlement: Settlement;
  if (verdict.kind === 'present-same') {
    settlement = { callId: item.callId, kind: 'delivered', status: null };
  } else if (verdict.kind === 'present-different') {
    const error =
      `conflict: the CRM already holds ${verdict.copies === 1 ? 'a call' : `${verdict.copies} calls`} with this callId and different content ` +
      `(sha256 ${verdict.theirs.slice(0, 12)}…, ours ${verdict.ours.slice(0, 12)}…), after an attempt whose answer was lost; not sent again, so as not to ` +
      'store it twice or overwrite it: compare the two and replay or drop this call by hand';
    settlement = { callId: item.callId, kind: 'dead', status: null, error, countAttempt: false };
  } else {
    return null;
  }
  const log = [...prepared.log, logEntry(item, 'verify', result, settlement.kind, errorOf(settlement), ctx)];
  return {
    settlement: { ...settlement, log },
    status,
    step: 'verify',
    durationMs: prepared.durationMs + result.durationMs,
    recordingNote: prepared.recordingNote,
    ...(prepared.uploadedBytes === undefined ? {} : { uploadedBytes: prepared.uploadedBytes }),
  };
}

/** One request as a history entry; `at` is when it started (its end minus its duration). */
function logEntry(
  item: OutboxItem,
  step: AttemptLogEntry['step'],
  result: CrmResult | null,
  outcome: AttemptLogEntry['outcome'],
  error: string | null,
  ctx: Pick<DeliverContext, 'now'>,
): AttemptLogEntry {
  const durationMs = result?.durationMs ?? 0;
  return {
    at: Math.round((ctx.now ?? steadyNow)() - durationMs),
    step,
    attempt: item.attempts + 1,
    status: result?.kind === 'response' ? result.status : null,
    durationMs,
    outcome,
    error,
  };
}

function errorOf(s: Settlement): string | null {
  return s.kind === 'delivered' ? null : s.error;
}

/**
 * The payload to POST, with the recording's URL and figures once the recording is settled (uploaded,
 * or given up on for a recorded reason) — or, when it is not settled, the report that ends this attempt
 * early, so that the call data never goes out while its recording might still be sent.
 */
async function settleRecording(
  item: OutboxItem,
  ctx: DeliverContext,
): Promise<{ payload: CallPayload; durationMs: number; recordingNote: string | null; log: AttemptLogEntry[]; uploadedBytes?: number } | { report: AttemptReport }> {
  const rec = item.recording;
  if (rec.url !== null) return { payload: withRecording(item.payload, rec), durationMs: 0, recordingNote: null, log: [] };
  if (rec.path === null || rec.note !== null) return { payload: item.payload, durationMs: 0, recordingNote: rec.note, log: [] };

  const now = ctx.now ?? steadyNow;
  const { settings } = ctx;
  const stableMs = stablePollMs(settings.recordingWaitMs);
  const step = await runRecordingStep({
    callId: item.callId,
    path: rec.path,
    client: ctx.client,
    pacer: ctx.pacer,
    // The wait for egress counts from the enqueue, so retries do not restart it.
    waitUntil: item.createdAt + settings.recordingWaitMs,
    // Leave this attempt time for the upload and the POST before its lease runs out (but at least two
    // size checks, so a short lease cannot turn this into a busy loop).
    attemptDeadline: Math.max((item.leaseUntil ?? now() + 2 * settings.timeoutMs) - settings.timeoutMs, now() + 2 * stableMs),
    stableMs,
    signal: ctx.signal,
    probe: ctx.probe,
    now,
  });
  switch (step.kind) {
    case 'not-ready': {
      // Not a failure: egress is still writing. Come back soon without spending an attempt.
      const log = [logEntry(item, 'recording', null, 'not-ready', step.note, ctx)];
      const settlement: Settlement = { callId: item.callId, kind: 'wait', nextAttemptAt: now(), status: null, error: step.note, log };
      return { report: { settlement, step: null, status: null, durationMs: 0, recordingNote: step.note } };
    }
    case 'failed': {
      const { settlement, status } = decide(item, step.outcome, step.result, ctx);
      const log = [logEntry(item, 'recording', step.result, settlement.kind, errorOf(settlement), ctx)];
      return { report: { settlement: { ...settlement, log }, status, step: 'recording', durationMs: step.result.durationMs, recordingNote: null } };
    }
    case 'uploaded': {
      const figures = { url: step.url, size: step.size, duration: step.duration };
      failPoint('after-upload');
      // Stored before the POST: a retry or a restarted worker finds the URL and never uploads again.
      await ctx.store.checkpointRecording(item.callId, { ...figures, note: null });
      failPoint('after-checkpoint');
      const log = [logEntry(item, 'recording', step.result, 'uploaded', null, ctx)];
      return { payload: withRecording(item.payload, figures), durationMs: step.result.durationMs, recordingNote: null, log, uploadedBytes: step.size };
    }
    case 'skip': {
      await ctx.store.checkpointRecording(item.callId, { note: step.note, size: step.size ?? rec.size });
      const log = [logEntry(item, 'recording', step.result, 'skipped', step.note, ctx)];
      return { payload: item.payload, durationMs: step.result?.durationMs ?? 0, recordingNote: step.note, log };
    }
  }
}

/**
 * The settlement of an attempt that broke for a reason of our own (the store failed, a bug): a failed
 * attempt like any other, so the schedule and `maxAttempts` still bound it.
 */
export function failedAttempt(item: OutboxItem, reason: string, ctx: Pick<DeliverContext, 'settings' | 'now' | 'random'>): Settlement {
  const result: CrmResult = { kind: 'error', error: 'network', message: reason, durationMs: 0 };
  return decide(item, { kind: 'retry', reason }, result, ctx).settlement;
}

/** Turn an outcome into the settlement docs/architecture.md asks for. */
function decide(
  item: OutboxItem,
  outcome: Outcome,
  result: CrmResult,
  ctx: Pick<DeliverContext, 'settings' | 'now' | 'random'>,
): { settlement: Settlement; status: number | null } {
  const now = (ctx.now ?? steadyNow)();
  const status = result.kind === 'response' ? result.status : null;
  const { callId } = item;
  const policy = ctx.settings.retryPolicy;

  if (outcome.kind === 'delivered') return { settlement: { callId, kind: 'delivered', status }, status };
  if (outcome.kind === 'dead') return { settlement: { callId, kind: 'dead', status, error: outcome.reason, countAttempt: true }, status };

  if (outcome.kind === 'wait' && mayWaitAgain(policy, item.rateLimitWaits)) {
    // A rate-limited answer is the server pacing us, not a failure: the attempt is not spent.
    const ms = outcome.ms ?? delayAfter(policy, item.attempts + 1, ctx.random);
    return { settlement: { callId, kind: 'wait', nextAttemptAt: now + ms, status, error: outcome.reason }, status };
  }

  const attempts = item.attempts + 1;
  if (isExhausted(attempts, policy.maxAttempts)) {
    const error = `gave up after ${attempts} attempts: ${outcome.reason}`;
    return { settlement: { callId, kind: 'dead', status, error, countAttempt: true }, status };
  }
  const delay = delayAfter(policy, attempts, ctx.random);
  return { settlement: { callId, kind: 'retry', nextAttemptAt: now + delay, status, error: outcome.reason }, status };
}
