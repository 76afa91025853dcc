/**
 * The payload hash `reconcile` compares: SHA-256 of a canonical JSON (object keys sorted at every
 * level, arrays in their order, no spaces), so that the same record hashes the same on both sides
 * whatever order its keys were written or stored in.
 */
import { contentHash } from '../payload/canonical-json.ts';
import type { OutboxItem } from '../outbox/outbox-store.ts';
import { withRecording } from '../payload/build-payload.ts';
import type { CallPayload } from '../payload/call-payload.ts';

/** The top-level fields of the contract (`additionalProperties: false`): anything else the CRM adds. */
export const CONTRACT_FIELDS: readonly string[] = ['campaignId', 'voiceAgentId', 'client', 'callDetails', 'caller', 'transcription', 'lead'];

export { canonicalJson } from '../payload/canonical-json.ts';

/** Hex SHA-256 of the canonical JSON. */
export function payloadHash(value: unknown): string {
  return contentHash(value);
}

/**
 * What the outbox actually sent for a delivered item: its payload plus, once the recording was
 * uploaded, the URL and figures of the recording checkpoint — exactly what the worker adds before the
 * POST (a call sent without its recording went out as enqueued).
 */
export function sentPayload(item: OutboxItem): CallPayload {
  return item.recording.url === null ? item.payload : withRecording(item.payload, item.recording);
}

/**
 * The CRM's record as the payload it stores: only the contract's top-level fields, since the CRM may
 * add its own (`_id`, `createdAt`, …) around what it was sent.
 */
export function crmPayload(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of CONTRACT_FIELDS) if (key in record) out[key] = record[key];
  return out;
}
