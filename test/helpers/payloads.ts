/**
 * Contract-valid payloads for worker tests and benchmarks, deterministic by index, and a contract
 * check built on the schema file itself (not on the library's validator) so tests judge the library.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { CallPayload } from '../../src/payload/call-payload.ts';

const BASE_START_MS = Date.parse('2025-10-29T10:00:00.000Z');

/** Overrides of `makePayload`: top-level fields replace, `callDetails` fields merge. */
export type PayloadOverrides = Partial<Omit<CallPayload, 'callDetails'>> & { callDetails?: Partial<CallPayload['callDetails']> };

/** The callId of payload `i`: `CALL-20251029-1000xx-<8 hex>` (start 10:00:00 UTC + i s). */
export function makeCallIdFor(i: number): string {
  const start = new Date(BASE_START_MS + i * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  const hex = createHash('sha256').update(`call-${i}`).digest('hex').slice(0, 8);
  return `CALL-20251029-${p(start.getUTCHours())}${p(start.getUTCMinutes())}${p(start.getUTCSeconds())}-${hex}`;
}

/** Payload number `i`: same `i`, same payload. */
export function makePayload(i: number, overrides: PayloadOverrides = {}): CallPayload {
  const startMs = BASE_START_MS + i * 1000;
  const endMs = startMs + 42_000;
  const start = new Date(startMs).toISOString();
  const end = new Date(endMs).toISOString();
  const callId = makeCallIdFor(i);
  const phone = `+9199999${String(i % 100_000).padStart(5, '0')}`;
  const base: CallPayload = {
    campaignId: 'camp-test',
    voiceAgentId: 'agent-test',
    client: 'client-test',
    callDetails: {
      callId,
      direction: 'inbound',
      startTime: start,
      endTime: end,
      duration: 42,
      status: 'completed',
      callerNumber: phone,
    },
    caller: { phoneNumber: phone },
    transcription: {
      session_id: `session_test_${String(i).padStart(6, '0')}`,
      start_time: start,
      end_time: end,
      duration_seconds: 42,
      total_items: 2,
      conversation_items: [
        { role: 'assistant', content: `Namaste! Call ${i}.`, timestamp: start, source: 'agent' },
        { role: 'user', content: 'Hello', timestamp: new Date(startMs + 5000).toISOString(), source: 'transcription_node', transcript_confidence: 0.93 },
      ],
      lead_generated: false,
      metadata: {},
    },
    lead: {},
  };
  const { callDetails, ...rest } = overrides;
  return { ...base, ...rest, callDetails: { ...base.callDetails, ...callDetails } };
}

let validator: ValidateFunction | null = null;

/** Throw (with ajv's messages) unless `p` validates against the contract in contract/. */
export function assertValidPayload(p: unknown): void {
  if (validator === null) {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormatsModule.default(ajv);
    const schema = JSON.parse(readFileSync(new URL('../../contract/call-data.schema.json', import.meta.url), 'utf8')) as object;
    validator = ajv.compile(schema);
  }
  if (!validator(p)) throw new Error(`payload does not match the contract: ${JSON.stringify(validator.errors)}`);
}
