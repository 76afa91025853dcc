/**
 * A valid call-data payload built by hand (not by the payload module, which other engineers are still
 * writing), and a contract validator, for the CRM client and local CRM tests.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { CallPayload } from '../../src/payload/call-payload.ts';

/** A payload valid against contract/call-data.schema.json. */
export function samplePayload(callId: string, overrides: { startTime?: string; campaignId?: string; voiceAgentId?: string } = {}): CallPayload {
  const startTime = overrides.startTime ?? '2025-10-28T06:27:29.508Z';
  const endTime = new Date(Date.parse(startTime) + 6_000).toISOString();
  return {
    campaignId: overrides.campaignId ?? '68c91223fde0aa95caa3dbe4',
    voiceAgentId: overrides.voiceAgentId ?? '68c9105cfde0aa95caa3db64',
    client: '68c90d626052ee95ac77059d',
    callDetails: {
      callId,
      direction: 'inbound',
      startTime,
      endTime,
      duration: 6,
      status: 'completed',
      callerNumber: '+919876543210',
    },
    caller: { phoneNumber: '+919876543210' },
    transcription: {
      session_id: `session_${callId}`,
      start_time: startTime,
      end_time: endTime,
      duration_seconds: 6,
      total_items: 2,
      conversation_items: [
        { role: 'assistant', content: 'Hello, how can I help?', timestamp: startTime, source: 'livekit' },
        { role: 'user', content: 'I would like a demo.', timestamp: endTime, source: 'livekit', transcript_confidence: 0.94, interrupted: false },
      ],
      lead_generated: false,
      metadata: { test: true },
    },
    lead: {},
  };
}

/** A validator compiled from a schema of the package's `contract/` folder. */
export function contractValidator(name: 'call-data.schema.json' | 'upload-response.schema.json'): (value: unknown) => string[] {
  const schema = JSON.parse(readFileSync(new URL(`../../contract/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormatsModule.default(ajv);
  const validate = ajv.compile(schema);
  return (value) => (validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`));
}
