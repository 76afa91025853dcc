/**
 * Idempotency keys (docs/architecture.md, "Delivery" → "Idempotency"): derived only from the callId and the step,
 * so the same request carries the same key across retries, restarts and hosts.
 */
import { createHash } from 'node:crypto';

/** The request a key belongs to: the recording upload and the call-data POST of one call differ. */
export type IdempotencyStep = 'call-data' | 'recording';

// Characters safe in a header value and readable in logs; anything else is hashed.
const SAFE_CALL_ID = /^[A-Za-z0-9._~:@+=-]{1,200}$/;

/**
 * The `Idempotency-Key` of one step of one call: `crm-upload:<step>:<callId>`, or
 * `crm-upload:<step>:sha256-<hex>` when the callId holds characters unfit for a header (or is very long).
 */
export function idempotencyKey(callId: string, step: IdempotencyStep): string {
  const id = SAFE_CALL_ID.test(callId) ? callId : `sha256-${createHash('sha256').update(callId, 'utf8').digest('hex')}`;
  return `crm-upload:${step}:${id}`;
}
