import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPayload, resolveCallerNumber, withRecording, type PayloadSettings } from '../../src/payload/build-payload.ts';
import { makeCallId } from '../../src/payload/call-id.ts';
import { assertValidPayload, payloadProblems } from '../../src/payload/validate-payload.ts';
import { ConfigError, PayloadValidationError } from '../../src/errors.ts';
import type { CallBundle, CallRecord, LeadRecord } from '../../src/ingest/call-record.ts';

const settings: PayloadSettings = {
  campaignId: 'camp-cfg',
  voiceAgentId: 'agent-cfg',
  clientId: 'client-cfg',
  defaultCallerPhone: null,
  defaultRegion: 'IN',
};

function call(over: Partial<CallRecord> = {}): CallRecord {
  return {
    file: '/data/conversations/transcript_session_2025-10-23T07-57-04.661114.json',
    format: 'transcript-logger',
    sessionId: 'session_20251023_075614_7e155942',
    sessionIdDerived: false,
    startTime: '2025-10-23T07:56:34.608Z',
    endTime: '2025-10-23T07:57:04.608Z',
    timesFrom: 'session',
    items: [
      { role: 'assistant', content: 'Namaste!', timestamp: '2025-10-23T07:56:34.608Z', source: 'agent' },
      { role: 'user', content: 'Hello', timestamp: '2025-10-23T07:56:44.608Z', source: 'transcription_node', transcript_confidence: 0.95 },
    ],
    toolCalls: [],
    campaign: null,
    callerNumber: null,
    metadata: {},
    ...over,
  };
}

const lead: LeadRecord = {
  file: '/data/leads/lead_20251023_132655.json',
  fields: {
    name: 'Asha Rao', email: 'asha.rao@example.com', company: 'Tech Corp', interest: 'AI Solutions', phone: '9999900003',
    job_title: 'CTO', budget: '', timeline: '', timestamp: '2025-10-23T07:56:55.311Z', source: '', status: '',
  },
  time: '2025-10-23T07:56:55.311Z',
  sessionId: null,
  campaign: null,
};

function bundle(over: Partial<CallBundle> = {}): CallBundle {
  return { call: call(), lead: null, recording: null, manifest: null, ...over };
}

describe('makeCallId', () => {
  const rows: [string, string, string][] = [
    ['2025-10-23T07:56:34.608Z', 'session_20251023_075614_7e155942', 'CALL-20251023-075634-7e155942'],
    ['2025-01-02T03:04:05.000Z', 'abc', 'CALL-20250102-030405-abc'],
    ['2025-10-29T13:50:57.987Z', 'session_1761745857', 'CALL-20251029-135057-61745857'],
  ];
  for (const [start, session, expected] of rows) {
    test(`${start} + ${session} → ${expected}`, () => assert.equal(makeCallId(start, session), expected));
  }
});

describe('buildPayload', () => {
  test('maps a call with a lead to the exact contract payload', () => {
    const payload = buildPayload(bundle({ lead, recording: { file: '/r/number-_919999900001-1761745857.ogg', number: '919999900001', epoch: 1761745857, size: 143347, durationSec: 8 } }), settings);
    assertValidPayload(payload);
    assert.deepEqual(payload, {
      campaignId: 'camp-cfg',
      voiceAgentId: 'agent-cfg',
      client: 'client-cfg',
      callDetails: {
        callId: 'CALL-20251023-075634-7e155942',
        direction: 'inbound',
        startTime: '2025-10-23T07:56:34.608Z',
        endTime: '2025-10-23T07:57:04.608Z',
        duration: 30,
        status: 'completed',
        callerNumber: '+919999900001',
        recordingDuration: 8,
        recordingSize: 143347,
      },
      caller: { phoneNumber: '+919999900001' },
      transcription: {
        session_id: 'session_20251023_075614_7e155942',
        start_time: '2025-10-23T07:56:34.608Z',
        end_time: '2025-10-23T07:57:04.608Z',
        duration_seconds: 30,
        total_items: 2,
        conversation_items: [
          { role: 'assistant', content: 'Namaste!', timestamp: '2025-10-23T07:56:34.608Z', source: 'agent' },
          { role: 'user', content: 'Hello', timestamp: '2025-10-23T07:56:44.608Z', source: 'transcription_node', transcript_confidence: 0.95 },
        ],
        lead_generated: true,
        metadata: {},
      },
      lead: {
        name: 'Asha Rao', email: 'asha.rao@example.com', company: 'Tech Corp', interest: 'AI Solutions', phone: '9999900003',
        job_title: 'CTO', budget: '', timeline: '', timestamp: '2025-10-23T07:56:55.311Z', source: 'Friday AI Assistant', status: 'new',
      },
    });
  });

  test('no lead and no create_lead: lead {} and lead_generated false; duration rounds to nearest', () => {
    const p = buildPayload(bundle({ call: call({ endTime: '2025-10-23T07:57:05.108Z' }) }), settings);
    assertValidPayload(p);
    assert.deepEqual(p.lead, {});
    assert.equal((p.transcription as { lead_generated: boolean }).lead_generated, false);
    assert.equal(p.callDetails.duration, 31); // 30.5 s rounds up
    assert.equal(p.callDetails.recordingSize, undefined);
  });

  test('a create_lead tool call alone sets lead_generated', () => {
    const p = buildPayload(bundle({ call: call({ toolCalls: [{ name: 'create_lead', arguments: { name: 'A' }, timestamp: null }] }) }), settings);
    assert.equal((p.transcription as { lead_generated: boolean }).lead_generated, true);
  });

  test('the call’s own campaign metadata overrides the configured ids', () => {
    const p = buildPayload(bundle({ call: call({ campaign: { campaignId: 'c1', voiceAgentId: 'v1', clientId: 'k1' } }) }), settings);
    assert.deepEqual([p.campaignId, p.voiceAgentId, p.client], ['c1', 'v1', 'k1']);
  });

  test('missing ids without configuration is a ConfigError naming the variable', () => {
    assert.throws(
      () => buildPayload(bundle(), { ...settings, voiceAgentId: null }),
      (err: unknown) => err instanceof ConfigError && err.context.variable === 'CRM_VOICE_AGENT_ID',
    );
  });

  test('times not from the file are recorded in metadata.times_from; an explicit callId wins', () => {
    const p = buildPayload(bundle({ call: call({ timesFrom: 'file_name', metadata: { auto_saved: true } }), overrides: { callId: 'MY-ID' } }), settings);
    assert.equal(p.callDetails.callId, 'MY-ID');
    assert.deepEqual((p.transcription as { metadata: unknown }).metadata, { auto_saved: true, times_from: 'file_name' });
  });

  test('the same bundle always gives the same payload', () => {
    assert.deepEqual(buildPayload(bundle({ lead }), settings), buildPayload(bundle({ lead }), settings));
  });

  test('withRecording adds the URL without touching the input', () => {
    const p = buildPayload(bundle(), settings);
    const q = withRecording(p, { url: 'http://127.0.0.1:1/apis/uploads/recordings/1.ogg', size: 10, duration: 7.6 });
    assertValidPayload(q);
    assert.equal(p.callDetails.recordingUrl, undefined);
    assert.deepEqual([q.callDetails.recordingUrl, q.callDetails.recordingSize, q.callDetails.recordingDuration], ['http://127.0.0.1:1/apis/uploads/recordings/1.ogg', 10, 8]);
  });

  describe('a recording egress was still writing when it was read', () => {
    const writing = { file: '/r/number-_919999900001-1761745857.ogg', number: '919999900001', epoch: 1761745857, size: 40_960, durationSec: null, stillWriting: true } as const;

    test('no recordingSize (not final) and no recordingDuration (none read); the number still comes from its name', () => {
      const p = buildPayload(bundle({ lead, recording: writing }), settings);
      assertValidPayload(p);
      assert.equal('recordingSize' in p.callDetails, false);
      assert.equal('recordingDuration' in p.callDetails, false);
      assert.equal('recordingUrl' in p.callDetails, false);
      assert.equal(p.callDetails.callerNumber, '+919999900001');
    });

    test('the figures the upload gives (read from the finished file) go in, at build time or through withRecording', () => {
      const built = buildPayload(bundle({ recording: writing }), settings, { url: 'http://127.0.0.1:1/apis/uploads/recordings/1.ogg', size: 143_347, duration: 7.76 });
      assertValidPayload(built);
      assert.deepEqual([built.callDetails.recordingSize, built.callDetails.recordingDuration], [143_347, 8]);
      const later = withRecording(buildPayload(bundle({ recording: writing }), settings), { url: 'http://127.0.0.1:1/apis/uploads/recordings/1.ogg', size: 143_347, duration: 7.76 });
      assertValidPayload(later);
      assert.deepEqual([later.callDetails.recordingUrl, later.callDetails.recordingSize, later.callDetails.recordingDuration], ['http://127.0.0.1:1/apis/uploads/recordings/1.ogg', 143_347, 8]);
    });

    test('never finished (the worker sends the call without it): the payload carries no figure of the part written', () => {
      const sent = withRecording(buildPayload(bundle({ recording: writing }), settings), { url: null, size: null, duration: null });
      assertValidPayload(sent);
      assert.deepEqual(Object.keys(sent.callDetails).filter((k) => k.startsWith('recording')), []);
    });

    test('a finished recording read the same way still gives its size and duration', () => {
      const { stillWriting: _, ...finished } = writing;
      const p = buildPayload(bundle({ recording: { ...finished, size: 143_347, durationSec: 8 } }), settings);
      assertValidPayload(p);
      assert.deepEqual([p.callDetails.recordingSize, p.callDetails.recordingDuration], [143_347, 8]);
    });
  });
});

describe('resolveCallerNumber precedence', () => {
  const rec = { file: '/r/x.ogg', number: '919999900009', epoch: 1, size: 1, durationSec: 1 };
  const rows: [string, Partial<CallBundle>, Partial<PayloadSettings>, string][] = [
    ['argument wins', { overrides: { callerPhone: '9999900001' }, manifest: { file: 'm', sessionId: null, dialedNumber: '+919999900002', campaign: null, files: { recording: null, conversation: null, lead: null }, startTime: null, endTime: null } }, {}, '+919999900001'],
    ['manifest dialed_number', { manifest: { file: 'm', sessionId: null, dialedNumber: '+919999900002', campaign: null, files: { recording: null, conversation: null, lead: null }, startTime: null, endTime: null }, recording: rec }, {}, '+919999900002'],
    ['campaign dialedNumber', { call: call({ campaign: { dialedNumber: '+919999900003' } }), recording: rec }, {}, '+919999900003'],
    ['recording file name', { recording: rec }, { defaultCallerPhone: '9999900004' }, '+919999900009'],
    ['configured default', {}, { defaultCallerPhone: '9999900004' }, '+919999900004'],
    ['nothing known', {}, {}, ''],
  ];
  for (const [name, b, s, expected] of rows) {
    test(name, () => assert.equal(resolveCallerNumber(bundle(b), { ...settings, ...s }), expected));
  }
});

describe('contract validation', () => {
  test('an invalid payload names the field', () => {
    const p = buildPayload(bundle(), settings) as unknown as { callDetails: { startTime: string } };
    p.callDetails.startTime = '2025-10-23 07:56:34';
    assert.ok(payloadProblems(p).some((x) => x.field === '/callDetails/startTime'));
    assert.throws(() => assertValidPayload(p, { file: 'f.json' }), (err: unknown) => err instanceof PayloadValidationError && err.context.field === '/callDetails/startTime' && err.context.file === 'f.json');
  });
  test('an unknown top-level field is rejected', () => {
    const p = { ...buildPayload(bundle(), settings), extra: 1 };
    assert.ok(payloadProblems(p).some((x) => x.message.includes('extra')));
  });
});
