/**
 * The readers on hand-made documents: both item shapes, tool calls, content lists, sources, the time
 * fallbacks, leads and manifests. Pure: no file is read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallRecord } from '../../src/ingest/call-record.ts';
import { InputProblemsError } from '../../src/ingest/problems.ts';
import { readLead, leadFromArguments } from '../../src/ingest/read-lead.ts';
import { readLegacyConversation } from '../../src/ingest/read-legacy-conversation.ts';
import { readLivekitHistory } from '../../src/ingest/read-livekit-history.ts';
import { readManifest } from '../../src/ingest/read-manifest.ts';
import { readMongoExport } from '../../src/ingest/read-mongo-export.ts';
import { parseRecordingName } from '../../src/ingest/read-recording.ts';
import { readTranscriptLogger } from '../../src/ingest/read-transcript-logger.ts';
import { deriveSessionId } from '../../src/ingest/session-id.ts';

const UTC = { sourceTimezone: 'UTC' };
const IST = { sourceTimezone: 'Asia/Kolkata' };

function problemsOf(fn: () => unknown): [string, string][] {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputProblemsError) return err.problems.map((p) => [p.field, p.code]);
    throw err;
  }
  assert.fail('expected the reader to refuse the document');
}

describe('transcript-logger reader', () => {
  const session = (items: unknown[], extra: Record<string, unknown> = {}) => ({
    session_id: 'session_1',
    start_time: '2025-10-23 07:56:34.608343',
    end_time: '2025-10-23 07:57:04.608343',
    items,
    metadata: {},
    ...extra,
  });

  it('reads flat events and LiveKit chat items in one file', () => {
    const call = readTranscriptLogger(
      session([
        { role: 'assistant', content: 'Hi', timestamp: '2025-10-23T07:56:34Z', source: 'agent' },
        { id: 'item_a', type: 'message', role: 'user', content: ['Hello', { audio: 1 }, 'there'], interrupted: true, transcript_confidence: 0.5 },
        { type: 'function_call_output', output: '{}', call_id: 'c1' },
        { role: 'system', content: 'You are a bot' },
        { role: 'user', content: 'no source', timestamp: '2025-10-23 07:56:40' },
        { type: 'agent_handoff', new_agent_id: 'x' },
      ]),
      '/d/transcript_session_x.json',
      UTC,
    );
    assert.deepEqual(call.items, [
      { role: 'assistant', content: 'Hi', timestamp: '2025-10-23T07:56:34.000Z', source: 'agent' },
      { role: 'user', content: 'Hello there', timestamp: null, source: 'livekit', transcript_confidence: 0.5, interrupted: true, id: 'item_a' },
      { role: 'user', content: 'no source', timestamp: '2025-10-23T07:56:40.000Z', source: '' },
    ]);
  });

  it('function calls become tool calls; arguments may be an object or empty', () => {
    const call = readTranscriptLogger(
      session([
        { type: 'function_call', name: 'create_lead', arguments: '{"name":"Asha"}', call_id: 'c1', timestamp: '2025-10-23T07:56:50Z' },
        { type: 'function_call', name: 'end_call', arguments: '' },
        { type: 'function_call', name: 'lookup', arguments: { q: 1 } },
      ]),
      '/d/x.json',
      UTC,
    );
    assert.deepEqual(call.toolCalls, [
      { name: 'create_lead', arguments: { name: 'Asha' }, timestamp: '2025-10-23T07:56:50.000Z', callId: 'c1' },
      { name: 'end_call', arguments: {}, timestamp: null },
      { name: 'lookup', arguments: { q: 1 }, timestamp: null },
    ]);
  });

  it('bad tool arguments name items[i].arguments', () => {
    assert.deepEqual(
      problemsOf(() => readTranscriptLogger(session([{}, { type: 'function_call', name: 'x', arguments: '{bad' }, { type: 'function_call', arguments: '[1]' }]), '/d/x.json', UTC)),
      [
        ['items[1].arguments', 'E_INPUT_FIELD'],
        ['items[2].name', 'E_INPUT_FIELD'],
        ['items[2].arguments', 'E_INPUT_FIELD'],
      ],
    );
  });

  it('metadata passes through; its campaign_metadata is the campaign', () => {
    const call = readTranscriptLogger(session([], { metadata: { auto_saved: true, campaign_metadata: { campaignId: 'c', voiceAgentId: 'v', clientId: 'k' } } }), '/d/x.json', UTC);
    assert.deepEqual(call.metadata, { auto_saved: true, campaign_metadata: { campaignId: 'c', voiceAgentId: 'v', clientId: 'k' } });
    assert.deepEqual(call.campaign, { campaignId: 'c', voiceAgentId: 'v', clientId: 'k' });
  });

  it('times: session fields, else items, else the file name (UTC), else the mtime', () => {
    const items = [
      { role: 'user', content: 'a', timestamp: '2025-10-23T07:56:40Z' },
      { role: 'user', content: 'b', timestamp: '2025-10-23T07:56:50Z' },
    ];
    const fromItems = readTranscriptLogger({ session_id: 's', items }, '/d/x.json', UTC);
    assert.deepEqual([fromItems.startTime, fromItems.endTime, fromItems.timesFrom], ['2025-10-23T07:56:40.000Z', '2025-10-23T07:56:50.000Z', 'items']);
    const onlyStart = readTranscriptLogger({ session_id: 's', start_time: '2025-10-23 07:56:30', items }, '/d/x.json', UTC);
    assert.deepEqual([onlyStart.startTime, onlyStart.endTime, onlyStart.timesFrom], ['2025-10-23T07:56:30.000Z', '2025-10-23T07:56:50.000Z', 'session']);
    const fromName = readTranscriptLogger({ session_id: 's', items: [] }, '/d/transcript_session_2025-10-13T08-23-59.153099.json', IST);
    assert.deepEqual([fromName.startTime, fromName.endTime, fromName.timesFrom], ['2025-10-13T08:23:59.153Z', '2025-10-13T08:23:59.153Z', 'file_name']);
    const fromMtime = readTranscriptLogger({ session_id: 's', items: [] }, '/d/x.json', { ...UTC, mtimeMs: Date.UTC(2025, 9, 1, 12) + 0.7 });
    assert.deepEqual([fromMtime.startTime, fromMtime.timesFrom], ['2025-10-01T12:00:00.000Z', 'mtime']);
  });

  it('a session without an id gets a derived one; an end before the start is a problem', () => {
    const call = readTranscriptLogger({ start_time: '2025-10-23 07:56:34', items: [] }, '/a/b/transcript_session_y.json', UTC);
    assert.equal(call.sessionId, deriveSessionId('2025-10-23T07:56:34.000Z', 'transcript_session_y.json'));
    assert.match(call.sessionId, /^session_20251023_075634_[0-9a-f]{8}$/);
    assert.equal(call.sessionIdDerived, true);
    assert.deepEqual(
      problemsOf(() => readTranscriptLogger({ session_id: 's', start_time: '2025-10-23 08:00:00', end_time: '2025-10-23 07:00:00', items: [] }, '/d/x.json', UTC)),
      [['end_time', 'E_INPUT_TIME']],
    );
    assert.deepEqual(problemsOf(() => readTranscriptLogger({ session_id: 's', start_time: 'x' }, '/d/x.json', UTC)), [
      ['start_time', 'E_INPUT_TIME'],
      ['items', 'E_INPUT_FIELD'],
    ]);
  });
});

describe('mongo-export reader', () => {
  const doc = (raws: unknown[]) => ({
    session_id: 'session_m',
    start_time: '2025-10-29 10:16:19.574407+00:00',
    end_time: '2025-10-29 10:16:52.652193+00:00',
    items: raws.map((raw, i) => ({ role: 'unknown', content: '', timestamp: `2025-10-29T10:16:2${i}.000000Z`, source: 'session_history', raw })),
  });

  it('recovers escaped text, roles, flags; drops non-message items; keeps tool calls', () => {
    const call = readMongoExport(
      {
        ...doc([
          "id='item_1' type='message' role='user' content=['It\\'s \"fine\"\\nreally', 'ok'] interrupted=True transcript_confidence=0.5",
          'id="item_2" type=\'message\' role=\'assistant\' content=["caf\\xe9 \\u0928"] interrupted=False transcript_confidence=None',
          "id='item_3' type='function_call' name='create_lead' arguments='{\"name\": \"Asha\"}' call_id='c1'",
          "id='item_4' type='agent_handoff' old_agent_id=None new_agent_id='a'",
          "id='item_5' type='message' role='system' content=['You are']",
        ]),
      },
      '/d/x.json',
      UTC,
    );
    assert.deepEqual(call.items, [
      { role: 'user', content: 'It\'s "fine"\nreally ok', timestamp: '2025-10-29T10:16:20.000Z', source: 'livekit', transcript_confidence: 0.5, interrupted: true, id: 'item_1' },
      { role: 'assistant', content: 'café न', timestamp: '2025-10-29T10:16:21.000Z', source: 'livekit', transcript_confidence: null, interrupted: false, id: 'item_2' },
    ]);
    assert.deepEqual(call.toolCalls, [{ name: 'create_lead', arguments: { name: 'Asha' }, timestamp: '2025-10-29T10:16:22.000Z', callId: 'c1' }]);
  });

  it('without the item timestamp, the repr created_at (epoch seconds) is the time', () => {
    const call = readMongoExport(
      { session_id: 's', start_time: '2025-10-29 10:16:19', items: [{ role: 'unknown', raw: "type='message' role='user' content=['x'] created_at=1761732988.8195968" }] },
      '/d/x.json',
      UTC,
    );
    assert.equal(call.items[0]?.timestamp, '2025-10-29T10:16:28.819Z');
  });

  it('a raw that does not parse names items[i].raw', () => {
    assert.deepEqual(problemsOf(() => readMongoExport(doc(["role='user' content=['x'", "type='message' role='user' content=['ok']"]), '/d/x.json', UTC)), [
      ['items[0].raw', 'E_INPUT_REPR'],
    ]);
  });
});

describe('livekit-history reader', () => {
  it('items with created_at give the times; function_call items are tool calls', () => {
    const call = readLivekitHistory(
      {
        items: [
          { id: 'item_1', type: 'message', role: 'user', content: ['Hi'], created_at: 1761732980.5 },
          { id: 'item_2', type: 'function_call', name: 'create_lead', arguments: '{"phone":"1"}', call_id: 'c' },
          { id: 'item_3', type: 'message', role: 'assistant', content: ['Bye'], created_at: 1761733012.25 },
        ],
      },
      '/d/history.json',
      UTC,
    );
    assert.deepEqual([call.startTime, call.endTime, call.timesFrom], ['2025-10-29T10:16:20.500Z', '2025-10-29T10:16:52.250Z', 'items']);
    assert.deepEqual(call.toolCalls, [{ name: 'create_lead', arguments: { phone: '1' }, timestamp: null, callId: 'c' }]);
    assert.equal(call.sessionIdDerived, true);
  });

  it('no times anywhere: the mtime, else none', () => {
    const doc = { items: [{ type: 'message', role: 'user', content: ['Hi'] }] };
    const withMtime = readLivekitHistory(doc, '/d/history.json', { ...UTC, mtimeMs: Date.UTC(2025, 9, 29, 10, 17) });
    assert.deepEqual([withMtime.startTime, withMtime.endTime, withMtime.timesFrom], ['2025-10-29T10:17:00.000Z', '2025-10-29T10:17:00.000Z', 'mtime']);
    assert.match(withMtime.sessionId, /^session_20251029_101700_[0-9a-f]{8}$/);
    const none = readLivekitHistory(doc, '/d/history.json', UTC);
    assert.deepEqual([none.startTime, none.endTime, none.timesFrom], [null, null, null]);
    assert.match(none.sessionId, /^session_unknown_[0-9a-f]{8}$/);
  });
});

describe('legacy-conversation reader', () => {
  it('agent is the assistant; naive times in the source zone', () => {
    const call: CallRecord = readLegacyConversation(
      {
        conversation: [
          { role: 'user', content: 'Hello?', timestamp: '2025-10-07T16:43:30.949544', source: 'google_llm' },
          { role: 'agent', content: 'Ji', timestamp: '2025-10-07T16:43:32.010505', source: 'cartesia_tts' },
        ],
      },
      '/d/conversation_20251007_164256.json',
      IST,
    );
    assert.deepEqual(
      call.items.map((i) => [i.role, i.timestamp]),
      [
        ['user', '2025-10-07T11:13:30.949Z'],
        ['assistant', '2025-10-07T11:13:32.010Z'],
      ],
    );
    assert.deepEqual([call.startTime, call.endTime, call.timesFrom], ['2025-10-07T11:13:30.949Z', '2025-10-07T11:13:32.010Z', 'items']);
  });
  it('an empty conversation is a call timed by its name in the source zone (DST zone too)', () => {
    const call = readLegacyConversation({ conversation: [] }, '/d/conversation_20250701_120000.json', { sourceTimezone: 'America/New_York' });
    assert.deepEqual([call.startTime, call.endTime, call.timesFrom, call.items.length], ['2025-07-01T16:00:00.000Z', '2025-07-01T16:00:00.000Z', 'file_name', 0]);
  });
});

describe('lead reader', () => {
  it('defaults: source and status; other fields ""; time from the name when no timestamp', () => {
    const lead = readLead({ name: 'Asha Rao', phone: '9999900003', source: '', status: null }, '/d/lead_20251023_132655.json', IST);
    assert.deepEqual(lead.fields, {
      timestamp: null,
      name: 'Asha Rao',
      email: '',
      company: '',
      interest: '',
      phone: '9999900003',
      job_title: '',
      budget: '',
      timeline: '',
      source: 'Friday AI Assistant',
      status: 'new',
    });
    assert.equal(lead.time, '2025-10-23T07:56:55.000Z');
  });
  it('inner campaign_metadata gives the campaign and the session id', () => {
    const lead = readLead(
      { name: 'A', timestamp: '2025-10-29T19:20:57', campaign_metadata: { campaignId: 'c', sessionId: 'session_1761745857' } },
      '/d/leads_session_1761745857.json',
      IST,
    );
    assert.equal(lead.sessionId, 'session_1761745857');
    assert.equal(lead.campaign?.campaignId, 'c');
    assert.equal(lead.time, '2025-10-29T13:50:57.000Z');
  });
  it('a lead from create_lead arguments is lenient', () => {
    const lead = leadFromArguments({ name: 'Asha', phone: 99999, email: { x: 1 } }, '2025-10-23T07:56:55.102Z');
    assert.equal(lead.file, null);
    assert.equal(lead.fields.phone, '99999');
    assert.equal(lead.fields.email, '');
    assert.equal(lead.fields.timestamp, '2025-10-23T07:56:55.102Z');
  });
  it('a list is not a lead', () => {
    assert.deepEqual(problemsOf(() => readLead([], '/d/l.json', IST)), [['', 'E_INPUT_FIELD']]);
  });
});

describe('manifest reader and recording names', () => {
  it('naive manifest times are UTC; a numeric dialed number becomes digits', () => {
    const m = readManifest({ dialed_number: 919999900001, files: { conversation: '/x/c.json' }, timestamps: { call_start: '2025-10-29 13:50:57' } }, '/d/m.json', IST);
    assert.equal(m.startTime, '2025-10-29T13:50:57.000Z');
    assert.equal(m.endTime, null);
    assert.equal(m.dialedNumber, '919999900001');
    assert.deepEqual(m.rawFiles, { recording: null, conversation: '/x/c.json', lead: null });
  });
  const names: [string, string | null, number | null][] = [
    ['number-_919999900001-1761745857.ogg', '919999900001', 1761745857],
    ['/rec/number-_919999900002-1761633666.wav', '919999900002', 1761633666],
    ['recordings\\number-_919999900002-1761633666.ogg', '919999900002', 1761633666],
    ['number-_919999900001-1761745857123.ogg', '919999900001', 1761745857],
    ['number-_-1761745857.ogg', null, 1761745857],
    ['sample_tts_22050hz_mono.wav', null, null],
  ];
  for (const [name, number, epoch] of names) {
    it(`${name} → ${number}, ${epoch}`, () => assert.deepEqual(parseRecordingName(name), { number, epoch }));
  }
});
