/**
 * Outbox items for tests and the bench: a realistic payload (a few conversation items and a lead), so
 * that stored sizes and JSON round trips resemble real calls.
 */
import type { NewOutboxItem } from '../../src/outbox/outbox-store.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';

/** A contract-shaped payload for `callId`; `marker` lands in the lead's name so tests can tell payloads apart. */
export function samplePayload(callId: string, marker = 'first', startTime = '2025-10-23T07:56:34.608Z'): CallPayload {
  return {
    campaignId: 'camp-1',
    voiceAgentId: 'agent-1',
    client: 'client-1',
    callDetails: {
      callId,
      direction: 'inbound',
      startTime,
      endTime: '2025-10-23T07:58:10.000Z',
      duration: 95,
      status: 'completed',
      callerNumber: '+919999900001',
    },
    caller: { phoneNumber: '+919999900001' },
    transcription: {
      session_id: `session_${callId}`,
      start_time: '2025-10-23T07:56:34.608Z',
      end_time: '2025-10-23T07:58:10.000Z',
      duration_seconds: 95.392,
      total_items: 2,
      conversation_items: [
        { role: 'assistant', content: 'Hello, this is Friday. How can I help?', timestamp: '2025-10-23T07:56:35.000Z', source: 'livekit' },
        { role: 'user', content: 'I would like a demo of the product — ünïcödé too.', timestamp: null, source: 'livekit', transcript_confidence: 0.94, interrupted: false },
      ],
      lead_generated: true,
      metadata: { times_from: 'session' },
    },
    lead: {
      name: `Test Person ${marker}`,
      email: 'test@example.com',
      company: 'Example Ltd',
      interest: 'demo',
      phone: '+919999900001',
      job_title: 'CTO',
      budget: '',
      timeline: 'Q4',
      timestamp: null,
      source: 'Friday AI Assistant',
      status: 'new',
    },
  };
}

/** A new outbox item for `callId`. */
export function sampleItem(
  callId: string,
  options: { marker?: string; recordingPath?: string | null; sourceFile?: string | null; startTime?: string } = {},
): NewOutboxItem {
  return {
    callId,
    payload: samplePayload(callId, options.marker, options.startTime),
    recordingPath: options.recordingPath ?? null,
    sourceFile: options.sourceFile === undefined ? `/data/conversations/${callId}.json` : options.sourceFile,
  };
}
