/**
 * Every fixture read through `readInputFile`: exact item counts, roles in order, first and last
 * text, and UTC start, per file (the event log is skipped, not a call).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CallRecord } from '../../src/ingest/call-record.ts';
import { parseReprFields } from '../../src/ingest/python-repr.ts';
import { EVENT_LOG_REASON, readInputFile, type IngestResult } from '../../src/ingest/read-file.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

export { FIXTURES };
const CONV = join(FIXTURES, 'conversations');
const ctx = { sourceTimezone: 'Asia/Kolkata' };

async function readCall(path: string): Promise<CallRecord> {
  const result = await readInputFile(path, ctx);
  assert.equal(result.kind, 'call', `${path} should be a call`);
  return (result as Extract<IngestResult, { kind: 'call' }>).call;
}

interface Expected {
  path: string;
  format: string;
  count: number;
  roles: string;
  first: string | null;
  last: string | null;
  start: string;
  end: string;
  timesFrom: string;
  sessionId?: string | RegExp;
}

const R = (s: string) => s.split('').map((c) => (c === 'u' ? 'user' : 'assistant'));

const EXPECTED: Expected[] = [
  {
    path: 'transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json',
    format: 'transcript-logger',
    count: 3,
    roles: 'aua',
    first: 'Namaste! Main Urban Piper se piperbot bol rahi hoon.',
    last: 'Thank you, Asha. Our team will call you back today.',
    start: '2025-10-23T07:56:34.608Z',
    end: '2025-10-23T07:57:04.608Z',
    timesFrom: 'session',
    sessionId: 'session_20251023_075614_7e155942',
  },
  {
    path: 'livekit-history/transcript_session_2025-10-29T10-16-54.630373.json',
    format: 'livekit-history',
    count: 9,
    roles: 'auauuuaua',
    first: 'Hi I am assistant of Asha Rao',
    last: 'Thank you contacting',
    start: '2025-10-29T10:16:54.630Z',
    end: '2025-10-29T10:16:54.630Z',
    timesFrom: 'file_name',
    sessionId: /^session_20251029_101654_[0-9a-f]{8}$/,
  },
  {
    path: 'mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json',
    format: 'mongo-export',
    count: 9,
    roles: 'auauuuaua',
    first: 'Hi I am assistant of Asha Rao',
    last: 'Thank you contacting',
    start: '2025-10-29T10:16:19.574Z',
    end: '2025-10-29T10:16:52.652Z',
    timesFrom: 'session',
    sessionId: 'session_20251029_101619_b4ce4c7b',
  },
  {
    path: 'mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session17617458.json',
    format: 'mongo-export',
    count: 9,
    roles: 'auauuuaua',
    first: 'Hi I am assistant of Asha Rao',
    last: 'Thank you contacting',
    start: '2025-10-29T13:50:57.987Z',
    end: '2025-10-29T13:51:32.276Z',
    timesFrom: 'session',
    sessionId: 'session_20251029_135057_99509edf',
  },
  {
    path: 'legacy/conversation_20251007_164256.json',
    format: 'legacy-conversation',
    count: 23,
    roles: 'uauauuauauauuuuauuauaua',
    first: '.',
    last: 'Aapka swagat hai, Asha Rao ji! Agar aapko future mein aur koi jaankari chahiye ho, toh please bataiyega.',
    start: '2025-10-07T11:12:56.532Z',
    end: '2025-10-07T11:16:25.290Z',
    timesFrom: 'items',
    sessionId: /^session_20251007_111256_[0-9a-f]{8}$/,
  },
  {
    path: 'legacy/conversation_20251008_154901.json',
    format: 'legacy-conversation',
    count: 0,
    roles: '',
    first: null,
    last: null,
    start: '2025-10-08T10:19:01.000Z',
    end: '2025-10-08T10:19:01.000Z',
    timesFrom: 'file_name',
    sessionId: /^session_20251008_101901_[0-9a-f]{8}$/,
  },
];

describe('fixtures: conversations', () => {
  it('every file of the fixtures/conversations folder is covered', async () => {
    const files: string[] = [];
    for (const dir of await readdir(CONV)) for (const f of await readdir(join(CONV, dir))) files.push(`${dir}/${f}`);
    const covered = new Set([...EXPECTED.map((e) => e.path), 'event-log/transcripts.jsonl']);
    assert.deepEqual(files.sort(), [...covered].sort());
  });

  for (const e of EXPECTED) {
    it(`${e.path}: ${e.count} items, start ${e.start}`, async () => {
      const call = await readCall(join(CONV, e.path));
      assert.equal(call.format, e.format);
      assert.equal(call.items.length, e.count);
      assert.deepEqual(
        call.items.map((i) => i.role),
        R(e.roles),
      );
      assert.equal(call.items[0]?.content ?? null, e.first);
      assert.equal(call.items.at(-1)?.content ?? null, e.last);
      assert.equal(call.startTime, e.start);
      assert.equal(call.endTime, e.end);
      assert.equal(call.timesFrom, e.timesFrom);
      if (typeof e.sessionId === 'string') {
        assert.equal(call.sessionId, e.sessionId);
        assert.equal(call.sessionIdDerived, false);
      } else if (e.sessionId) {
        assert.match(call.sessionId, e.sessionId);
        assert.equal(call.sessionIdDerived, true);
      }
      for (const item of call.items) assert.equal(typeof item.content, 'string');
    });
  }

  it('the same file always gives the same derived session id', async () => {
    const path = join(CONV, 'livekit-history/transcript_session_2025-10-29T10-16-54.630373.json');
    assert.equal((await readCall(path)).sessionId, (await readCall(path)).sessionId);
  });

  it('transcript-logger: create_lead is a tool call with parsed arguments, not an item', async () => {
    const call = await readCall(join(CONV, 'transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json'));
    assert.deepEqual(call.toolCalls, [
      {
        name: 'create_lead',
        arguments: { name: 'Asha Rao', email: 'asha.rao@example.com', phone: '9999900003', company: 'Tech Corp', interest: 'AI Solutions' },
        timestamp: '2025-10-23T07:56:55.102Z',
      },
    ]);
    assert.deepEqual(call.items[1], {
      role: 'user',
      content: 'Hello, I need help',
      timestamp: '2025-10-23T07:56:44.608Z',
      source: 'transcription_node',
      transcript_confidence: 0.95,
    });
    assert.deepEqual(call.metadata, {});
    assert.equal(call.campaign, null);
  });

  it('legacy: agent is the assistant; naive IST item times are converted; sources are kept', async () => {
    const call = await readCall(join(CONV, 'legacy/conversation_20251007_164256.json'));
    assert.deepEqual(call.items[1]?.role, 'assistant');
    assert.equal(call.items[1]?.timestamp, '2025-10-07T11:12:59.572Z');
    assert.equal(call.items[1]?.source, 'cartesia_tts');
    assert.equal(call.items[0]?.source, 'google_llm');
  });

  it('livekit history: ids, interrupted, confidence when given; source livekit; no item times', async () => {
    const call = await readCall(join(CONV, 'livekit-history/transcript_session_2025-10-29T10-16-54.630373.json'));
    assert.deepEqual(call.items[1], {
      role: 'user',
      content: 'Hello?',
      timestamp: null,
      source: 'livekit',
      transcript_confidence: 0.9406738,
      interrupted: false,
      id: 'item_39ca4b45badf',
    });
    assert.equal(call.items[0]?.transcript_confidence, undefined);
    assert.equal(call.campaign, null);
  });

  it('mongo export: the items hold what the repr strings hold (role, text, confidence, interrupted, id)', async () => {
    for (const name of ['transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json', 'transcript_session_68ff5c0f015c_68ff5b90015c_session17617458.json']) {
      const path = join(CONV, 'mongo-export', name);
      const doc = JSON.parse(readFileSync(path, 'utf8')) as { items: { raw?: string; timestamp: string }[] };
      const expected = doc.items
        .filter((i) => typeof i.raw === 'string')
        .map((i) => {
          const f = parseReprFields(i.raw as string);
          // The fixture's reprs, read independently with a regex, must agree with the parser.
          const raw = i.raw as string;
          const role = /role='(\w+)'/.exec(raw)?.[1];
          const text = /content=\['(.*?)'\]/.exec(raw)?.[1];
          const conf = /transcript_confidence=([\d.]+|None)/.exec(raw)?.[1];
          assert.equal(f.role, role);
          assert.deepEqual(f.content, [text]);
          return {
            role,
            content: text,
            timestamp: new Date(i.timestamp).toISOString(),
            source: 'livekit',
            transcript_confidence: conf === 'None' ? null : Number(conf),
            interrupted: false,
            id: /id='(item_\w+)'/.exec(raw)?.[1],
          };
        });
      const call = await readCall(path);
      assert.deepEqual(call.items, expected);
      assert.equal(call.items.length, 9);
      assert.equal(call.toolCalls.length, 0);
    }
  });

  it('mongo export: campaign_metadata is the call campaign; metadata passes through', async () => {
    const call = await readCall(join(CONV, 'mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session17617458.json'));
    assert.deepEqual(call.campaign, {
      campaignId: '68ff5c0f015cbf44dd9f336c',
      voiceAgentId: '68ff5b90015cbf44dd9f3269',
      clientId: '68ff5a88015cbf44dd9f3006',
      sessionId: 'session_1761745857',
      dialedNumber: '+919999900001',
      egressId: 'EG_KfWxAFCAvH79',
    });
    assert.equal(call.metadata.auto_saved, true);
    assert.equal(call.callerNumber, null);
  });

  it('the LiveKit dump and the first Mongo export share item ids (the same call)', async () => {
    const a = await readCall(join(CONV, 'livekit-history/transcript_session_2025-10-29T10-16-54.630373.json'));
    const b = await readCall(join(CONV, 'mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json'));
    assert.deepEqual(
      a.items.map((i) => i.id),
      b.items.map((i) => i.id),
    );
  });

  it('the event log is skipped with its reason', async () => {
    const result = await readInputFile(join(CONV, 'event-log/transcripts.jsonl'), ctx);
    assert.deepEqual(result, { kind: 'skipped', format: 'event-log', file: join(CONV, 'event-log/transcripts.jsonl'), reason: EVENT_LOG_REASON });
  });

  it('a UTC source zone reads the legacy naive times as UTC', async () => {
    const result = await readInputFile(join(CONV, 'legacy/conversation_20251007_164256.json'), { sourceTimezone: 'UTC' });
    assert.equal(result.kind === 'call' ? result.call.startTime : null, '2025-10-07T16:42:56.532Z');
  });
});

describe('fixtures: leads, recordings, manifest', () => {
  it('lead_20251023_132655: naive IST timestamp → UTC, all 11 fields', async () => {
    const result = await readInputFile(join(FIXTURES, 'leads/lead_20251023_132655.json'), ctx);
    assert.equal(result.kind, 'lead');
    if (result.kind !== 'lead') return;
    assert.deepEqual(result.lead.fields, {
      name: 'Asha Rao',
      email: 'asha.rao@example.com',
      company: 'Tech Corp',
      interest: 'AI Solutions',
      phone: '9999900003',
      job_title: 'CTO',
      budget: '50k-100k',
      timeline: 'Q1 2026',
      timestamp: '2025-10-23T07:56:55.311Z',
      source: 'Friday AI Assistant',
      status: 'new',
    });
    assert.equal(result.lead.time, '2025-10-23T07:56:55.311Z');
    assert.equal(result.lead.sessionId, null);
    assert.equal(result.lead.campaign, null);
  });

  it('lead_20250929_133227: empty fields stay empty strings', async () => {
    const result = await readInputFile(join(FIXTURES, 'leads/lead_20250929_133227.json'), ctx);
    assert.ok(result.kind === 'lead');
    assert.equal(result.lead.fields.job_title, '');
    assert.equal(result.lead.fields.timestamp, '2025-09-29T08:02:27.825Z');
  });

  it('the egress recording: number, epoch, size and duration from the audio', async () => {
    const path = join(FIXTURES, 'recordings/number-_919999900001-1761745857.ogg');
    assert.deepEqual(await readInputFile(path, ctx), {
      kind: 'recording',
      format: 'recording',
      recording: { file: path, number: '919999900001', epoch: 1761745857, size: 143347, durationSec: 8 },
    });
  });

  it('the WAV recording: no number or epoch in its name', async () => {
    const path = join(FIXTURES, 'recordings/sample_tts_22050hz_mono.wav');
    assert.deepEqual(await readInputFile(path, ctx), {
      kind: 'recording',
      format: 'recording',
      recording: { file: path, number: null, epoch: null, size: 341908, durationSec: 8 },
    });
  });

  it('the manifest: +00:00Z times parse; raw paths kept, files not yet resolved', async () => {
    const path = join(FIXTURES, 'call_metadata/metadata_session_20251029_135057_99509edf.json');
    const result = await readInputFile(path, ctx);
    assert.ok(result.kind === 'manifest');
    const m = result.manifest;
    assert.equal(m.sessionId, 'session_20251029_135057_99509edf');
    assert.equal(m.dialedNumber, '+919999900001');
    assert.equal(m.startTime, '2025-10-29T13:50:57.987Z');
    assert.equal(m.endTime, '2025-10-29T13:51:29.544Z');
    assert.equal(m.campaign?.campaignId, '68ff5c0f015cbf44dd9f336c');
    assert.deepEqual(m.files, { recording: null, conversation: null, lead: null });
    assert.deepEqual(m.rawFiles, {
      recording: '/srv/voicebot/recordings/number-_919999900001-1761745857.ogg',
      conversation: '/srv/voicebot/conversations/transcript_session_68ff5c0f015c_68ff5b90015c_session17617458.json',
      lead: null,
    });
  });
});
