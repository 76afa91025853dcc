/**
 * Whether a failed call-data POST is *uncertain*: the request may have reached the CRM and been stored
 * while no answer was read (docs/architecture.md, "Delivery" → "Uncertain attempts"). Against a CRM
 * that ignores `Idempotency-Key`, re-sending after an uncertain attempt could store the call twice, so
 * the worker asks the CRM first; after a certain failure it simply sends again. Pure and table-tested:
 * every failure the client can meet is one row.
 *
 * When the client cannot tell whether the request was written whole, the attempt counts as uncertain:
 * the cost of being wrong that way is one listing request, the cost the other way a duplicate call.
 */
import type { CrmResult } from './crm-client.ts';

/** What is known about one failed (or answered) attempt. */
export type AttemptFacts =
  | CrmResult
  /** The item's lease ran out while it was in flight: its process died or hung mid-request. */
  | { kind: 'lease-expired' };

/** The verdict, with the reason a person reads in the history. */
export interface Certainty {
  uncertain: boolean;
  reason: string;
}

/**
 * Errors raised before any byte of the request could reach the server: the connection was never made
 * (refused, unreachable, DNS, connect timeout) or the TLS handshake failed.
 */
const NEVER_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_FAIL',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Errors raised only once the whole request was sent: undici starts the headers timeout when the request
 * is written, and the body timeout once the status line came (an answer we then lost).
 */
const AFTER_SENT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Classify one attempt's result (or an expired lease). */
export function attemptCertainty(facts: AttemptFacts): Certainty {
  if (facts.kind === 'lease-expired') return { uncertain: true, reason: 'lease expired while in flight (the process died or hung mid-request)' };
  if (facts.kind === 'response') return { uncertain: false, reason: `answered HTTP ${facts.status}` };
  // The recording could not be read: nothing of the call data went out.
  if (facts.error === 'file') return { uncertain: false, reason: 'the recording could not be read; nothing was sent' };
  const { code, requestSent } = facts;
  if (code !== undefined && NEVER_CONNECTED.has(code) && requestSent !== true) return { uncertain: false, reason: `${code}: the CRM was never reached` };
  if (code !== undefined && AFTER_SENT.has(code)) return { uncertain: true, reason: `${code}: sent, no answer read` };
  const what = facts.aborted ? 'stopped by the worker' : facts.error === 'timeout' ? 'timed out' : `connection failed${code === undefined ? '' : ` (${code})`}`;
  if (requestSent === false) return { uncertain: false, reason: `${what} before the request was written whole` };
  if (requestSent === true) return { uncertain: true, reason: `${what} after the request was written: the CRM may hold it` };
  return { uncertain: true, reason: `${what}; whether the request was written is unknown` };
}
