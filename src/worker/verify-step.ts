/**
 * Verify before re-sending (docs/architecture.md, "Delivery" → "Verify before re-sending"): before an item
 * whose last attempt was uncertain is sent again, the worker asks the CRM whether it already holds the
 * callId (`GET call-data?callId=…`), so that a CRM which ignores `Idempotency-Key` does not store the call
 * twice. `judgeListing` is the pure decision, table-tested; `ResendVerifier` is one worker's I/O around
 * it: the paced request, the mode, and the one warning when the listing cannot be used.
 */
import type { VerifyBeforeResend } from '../config/config.ts';
import type { CrmClient, CrmResult } from '../crm/crm-client.ts';
import type { Logger } from '../log/logger.ts';
import type { Pacer } from '../pacing/pacer.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { crmPayload, payloadHash } from '../reconcile/payload-hash.ts';

/** What the CRM's listing says about one callId. */
export type VerifyVerdict =
  /** It holds the call with the content we would send: delivered, no POST. */
  | { kind: 'present-same'; copies: number }
  /** It holds the callId with other content: a conflict for a person, never overwritten. */
  | { kind: 'present-different'; copies: number; ours: string; theirs: string }
  /** It does not hold it: send as usual. */
  | { kind: 'absent' }
  /**
   * The listing could not answer the question: send anyway. `notOffered` when it never will (no such
   * route, or it does not filter by callId), so that `auto` stops asking.
   */
  | { kind: 'unverified'; reason: string; notOffered: boolean };

// Enough for every copy a CRM that ignores the key could have made of one call.
const LIST_LIMIT = 50;

/** Decide from the listing's result whether the CRM holds `payload` (hashed as `reconcile` hashes). */
export function judgeListing(result: CrmResult, callId: string, payload: CallPayload): VerifyVerdict {
  if (result.kind === 'error') return { kind: 'unverified', reason: `the listing failed: ${result.error}: ${result.message}`, notOffered: false };
  const { status } = result;
  if (status === 404 || status === 405 || status === 501) return { kind: 'unverified', reason: `the CRM does not offer GET call-data (HTTP ${status})`, notOffered: true };
  if (status < 200 || status >= 300) return { kind: 'unverified', reason: `the listing answered HTTP ${status}`, notOffered: false };
  const data = (result.body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return { kind: 'unverified', reason: 'the listing answered without a data array', notOffered: true };
  const records = data.filter((r): r is Record<string, unknown> => r !== null && typeof r === 'object' && !Array.isArray(r));
  // A CRM that ignores the filter lists other calls: its page proves nothing about this one.
  if (records.some((r) => callIdOf(r) !== callId)) return { kind: 'unverified', reason: 'the listing ignores the callId filter', notOffered: true };
  if (records.length === 0) return { kind: 'absent' };
  const ours = payloadHash(payload);
  const hashes = records.map((r) => payloadHash(crmPayload(r)));
  if (hashes.includes(ours)) return { kind: 'present-same', copies: records.length };
  return { kind: 'present-different', copies: records.length, ours, theirs: hashes[0] ?? '' };
}

/** What one check did: the verdict and the listing's result (for the history and the attempt line). */
export interface VerifyCheck {
  verdict: VerifyVerdict;
  result: CrmResult;
}

/** One worker's verification: its mode, whether the listing is worth asking, and its one warning. */
export class ResendVerifier {
  readonly mode: VerifyBeforeResend;
  readonly #log: Logger;
  #notOffered = false;
  #warned = false;

  constructor(mode: VerifyBeforeResend, logger: Logger) {
    this.mode = mode;
    this.#log = logger;
  }

  /** Whether an uncertain item is checked before it is sent again. */
  get active(): boolean {
    if (this.mode === 'never') return false;
    return this.mode === 'always' || !this.#notOffered;
  }

  /**
   * Ask the CRM about `callId`, taking a pacer slot like any request. Never rejects for CRM failures
   * (they are an `unverified` verdict); rejects only when `signal` aborts the pacer's wait.
   */
  async check(callId: string, payload: CallPayload, ctx: { client: CrmClient; pacer: Pacer; signal?: AbortSignal }): Promise<VerifyCheck> {
    await ctx.pacer.acquire(ctx.signal);
    const result = await ctx.client.listCallData({ callId, limit: LIST_LIMIT });
    const verdict = judgeListing(result, callId, payload);
    if (verdict.kind === 'unverified') {
      if (verdict.notOffered) this.#notOffered = true;
      if (!this.#warned) {
        this.#warned = true;
        const then = this.mode === 'auto' && verdict.notOffered ? 'this worker stops asking' : 'each such call is sent again unverified';
        this.#log.warn(
          { callId, reason: verdict.reason, mode: this.mode },
          `cannot ask the CRM whether it already holds a call before sending it again (${verdict.reason}): sent anyway, and a CRM that ignores Idempotency-Key may then hold it twice; ${then} (said once per worker)`,
        );
      }
    }
    return { verdict, result };
  }
}

function callIdOf(record: Record<string, unknown>): string | null {
  const details = record.callDetails;
  if (details === null || typeof details !== 'object') return null;
  const id = (details as { callId?: unknown }).callId;
  return typeof id === 'string' ? id : null;
}
