import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyManifest, groupCalls, mergeCallRecords } from '../../src/match/merge-calls.ts';
import { matchRun } from '../../src/match/match-run.ts';
import type { CallRecord } from '../../src/ingest/call-record.ts';
import { call, createLead, items, manifest, recording, utc, warningLines } from './factories.ts';

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `item_${prefix}${i}`);

/** The LiveKit dump: no session id, no times (file name), items without timestamps. */
function livekit(n: number, itemIds: string[], over: Partial<CallRecord> = {}): CallRecord {
  return call({
    file: '/data/conversations/livekit-history/transcript_session_2025-10-29T10-16-54.630373.json',
    format: 'livekit-history',
    sessionId: 'session_20251029_101654_1a2b3c4d',
    sessionIdDerived: true,
    startTime: utc('10:16:54.630'),
    endTime: utc('10:16:54.630'),
    timesFrom: 'file_name',
    items: items(n, { ids: itemIds, timed: false }),
    ...over,
  });
}

/** The Mongo export of the same call: session id, times, timestamped items. */
function mongo(n: number, itemIds: string[], over: Partial<CallRecord> = {}): CallRecord {
  return call({
    file: '/data/conversations/mongo-export/transcript_session_68ff_session20251029.json',
    format: 'mongo-export',
    sessionId: 'session_20251029_101619_b4ce4c7b',
    startTime: utc('10:16:19.574'),
    endTime: utc('10:16:52.652'),
    timesFrom: 'session',
    items: items(n, { ids: itemIds }),
    campaign: { campaignId: 'camp-1' },
    ...over,
  });
}

describe('groupCalls', () => {
  test('files whose item ids overlap are one call, transitively; others stay apart', () => {
    const a = call({ file: 'a', items: items(2, { ids: ['item_1', 'item_2'] }) });
    const b = call({ file: 'b', items: items(2, { ids: ['item_9', 'item_8'] }) });
    const c = call({ file: 'c', items: items(2, { ids: ['item_2', 'item_3'] }) });
    const d = call({ file: 'd', items: items(2, { ids: ['item_3', 'item_8'] }) });
    const e = call({ file: 'e', items: items(2) });
    const result = groupCalls([e, a, b, c, d], []);
    assert.deepEqual(result.groups.map((g) => g.records.map((r) => r.file)), [['e'], ['a', 'b', 'c', 'd']]);
  });

  test('a manifest whose conversation is missing or null is an error naming it', () => {
    const m1 = manifest({ file: '/data/call_metadata/m1.json', files: { conversation: '/data/missing.json', recording: null, lead: null } });
    const m2 = manifest({ file: '/data/call_metadata/m2.json', rawFiles: { conversation: '/srv/x.json', recording: null, lead: null } });
    const result = groupCalls([call()], [m1, m2]);
    assert.deepEqual(result.errors.map((e) => e.file), ['/data/call_metadata/m1.json', '/data/call_metadata/m2.json']);
    assert.match(result.errors[0]!.reason, /\/data\/missing\.json was not found/);
    assert.match(result.errors[1]!.reason, /\/srv\/x\.json was not found/);
    assert.equal(result.groups[0]!.manifest, null);
  });

  test('a second manifest for the same call is a warning; the first is used', () => {
    const c = call({ file: '/data/c.json' });
    const m1 = manifest({ file: 'm1', files: { conversation: '/data/c.json', recording: null, lead: null } });
    const m2 = manifest({ file: 'm2', files: { conversation: '/data/c.json', recording: null, lead: null } });
    const result = groupCalls([c], [m1, m2]);
    assert.equal(result.groups[0]!.manifest?.file, 'm1');
    assert.deepEqual(result.warnings.map((w) => w.code), ['W_DUPLICATE_MANIFEST']);
  });
});

describe('mergeCallRecords', () => {
  const rows: { name: string; records: CallRecord[]; items: string; session: string; start: string | null }[] = [
    { name: 'same items: session and times from Mongo, items with timestamps (Mongo)', records: [livekit(9, ids('', 9)), mongo(9, ids('', 9))], items: 'mongo', session: 'session_20251029_101619_b4ce4c7b', start: utc('10:16:19.574') },
    { name: 'LiveKit has more items: its items, Mongo\'s session and times', records: [mongo(7, ids('', 7)), livekit(9, ids('', 9))], items: 'livekit', session: 'session_20251029_101619_b4ce4c7b', start: utc('10:16:19.574') },
    { name: 'Mongo has more items', records: [livekit(5, ids('', 5)), mongo(9, ids('', 9))], items: 'mongo', session: 'session_20251029_101619_b4ce4c7b', start: utc('10:16:19.574') },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const merged = mergeCallRecords(row.records);
      const from = row.records.find((r) => (row.items === 'mongo' ? r.format === 'mongo-export' : r.format === 'livekit-history'))!;
      assert.deepEqual(merged.items, from.items);
      assert.equal(merged.sessionId, row.session);
      assert.equal(merged.sessionIdDerived, false);
      assert.equal(merged.startTime, row.start);
      assert.equal(merged.timesFrom, 'session');
      assert.deepEqual(merged.campaign, { campaignId: 'camp-1' });
      assert.equal(merged.file, '/data/conversations/mongo-export/transcript_session_68ff_session20251029.json');
    });
  }

  test('tool calls are the union, deduplicated by name and arguments, keeping a known time', () => {
    const lk = livekit(2, ['item_a', 'item_b'], { toolCalls: [createLead({ phone: '1', name: 'A' }), createLead({ name: 'B' })] });
    const mg = mongo(2, ['item_a', 'item_b'], { toolCalls: [createLead({ name: 'A', phone: '1' }, utc('10:16:30'))] });
    const merged = mergeCallRecords([lk, mg]);
    assert.deepEqual(merged.toolCalls, [createLead({ name: 'A', phone: '1' }, utc('10:16:30')), createLead({ name: 'B' })]);
  });
});

describe('applyManifest', () => {
  const m = manifest({
    sessionId: 'session_20251029_135057_99509edf',
    dialedNumber: '+919999900001',
    campaign: { campaignId: 'camp-m', sessionId: 'session_1761745857' },
    startTime: '2025-10-29T13:50:57.987Z',
    endTime: '2025-10-29T13:51:29.544Z',
  });
  test('the conversation\'s own times win; the manifest gives the number and a missing campaign', () => {
    const own = mongo(3, [], { campaign: null, startTime: '2025-10-29T13:50:57.987Z', endTime: '2025-10-29T13:51:32.276Z' });
    const out = applyManifest(own, m);
    assert.equal(out.endTime, '2025-10-29T13:51:32.276Z');
    assert.equal(out.timesFrom, 'session');
    assert.equal(out.callerNumber, '+919999900001');
    assert.deepEqual(out.campaign, { campaignId: 'camp-m', sessionId: 'session_1761745857' });
    assert.equal(out.sessionId, own.sessionId);
  });
  test('a LiveKit dump takes the manifest\'s times and session id', () => {
    const out = applyManifest(livekit(3, []), m);
    assert.deepEqual([out.startTime, out.endTime, out.timesFrom], ['2025-10-29T13:50:57.987Z', '2025-10-29T13:51:29.544Z', 'manifest']);
    assert.deepEqual([out.sessionId, out.sessionIdDerived], ['session_20251029_135057_99509edf', false]);
  });
  test('the call\'s own campaign is kept', () => {
    assert.deepEqual(applyManifest(mongo(1, []), m).campaign, { campaignId: 'camp-1' });
  });
});

describe('matchRun: one call, several files', () => {
  test('manifest + conversation: one bundle with the manifest\'s recording and number, the conversation\'s times', () => {
    const conv = mongo(8, ids('m', 8), {
      file: '/data/conversations/mongo-export/transcript_session_68ff_session17617458.json',
      sessionId: 'session_20251029_135057_99509edf',
      startTime: '2025-10-29T13:50:57.987Z',
      endTime: '2025-10-29T13:51:32.276Z',
      campaign: null,
    });
    const rec = recording('2025-10-29T13:50:57Z');
    const other = recording('2025-10-29T13:51:00Z', { file: '/data/recordings/other.ogg', number: null });
    const m = manifest({
      file: '/data/call_metadata/metadata_session_20251029_135057_99509edf.json',
      sessionId: 'session_20251029_135057_99509edf',
      dialedNumber: '+919999900001',
      campaign: { campaignId: 'camp-m', sessionId: 'session_1761745857', dialedNumber: '+919999900001' },
      files: { conversation: conv.file, recording: rec.file, lead: null },
      startTime: '2025-10-29T13:50:57.987Z',
      endTime: '2025-10-29T13:51:29.544Z',
    });
    const result = matchRun({ calls: [conv], leads: [], recordings: [other, rec], manifests: [m] });
    assert.equal(result.bundles.length, 1);
    const b = result.bundles[0]!;
    assert.equal(b.manifest, m);
    assert.equal(b.recording, rec);
    assert.equal(b.matchedBy?.recording, 'manifest');
    assert.equal(b.call.callerNumber, '+919999900001');
    assert.deepEqual([b.call.startTime, b.call.endTime, b.call.timesFrom], ['2025-10-29T13:50:57.987Z', '2025-10-29T13:51:32.276Z', 'session']);
    assert.deepEqual(b.files, [conv.file, m.file, rec.file]);
    assert.deepEqual(result.unmatchedRecordings, [other.file]);
    assert.deepEqual(result.errors, []);
  });

  test('LiveKit dump + Mongo export with overlapping item ids: one bundle, Mongo\'s session and times, the larger\'s items', () => {
    const lk = livekit(9, ids('', 9));
    const mg = mongo(8, ids('', 8));
    const result = matchRun({ calls: [lk, mg], leads: [], recordings: [], manifests: [] });
    assert.equal(result.bundles.length, 1);
    const b = result.bundles[0]!;
    assert.equal(b.call.sessionId, 'session_20251029_101619_b4ce4c7b');
    assert.deepEqual([b.call.startTime, b.call.endTime], [utc('10:16:19.574'), utc('10:16:52.652')]);
    assert.deepEqual(b.call.items, lk.items);
    assert.deepEqual(b.files, [lk.file, mg.file]);
  });

  test('a manifest whose conversation is missing: an error naming it, and nothing sent for it', () => {
    const m = manifest({ file: '/data/call_metadata/lost.json', files: { conversation: null, recording: '/data/recordings/r.ogg', lead: null } });
    const rec = recording(utc('10:00:00'), { file: '/data/recordings/r.ogg' });
    const result = matchRun({ calls: [], leads: [], recordings: [rec], manifests: [m] });
    assert.deepEqual(result.bundles, []);
    assert.deepEqual(result.errors.map((e) => e.file), ['/data/call_metadata/lost.json']);
    assert.deepEqual(warningLines(result), ['W_UNMATCHED_RECORDING /data/recordings/r.ogg']);
  });

  test('a manifest\'s lead is attached as explicit', () => {
    const conv = call({ file: '/data/c.json', sessionId: 'session_C' });
    const lead = { file: '/data/leads/named.json', time: null, sessionId: null, campaign: null, fields: { name: 'X', email: '', company: '', interest: '', phone: '', job_title: '', budget: '', timeline: '', timestamp: null, source: '', status: '' } };
    const m = manifest({ files: { conversation: '/data/c.json', recording: null, lead: lead.file } });
    const result = matchRun({ calls: [conv], leads: [lead], recordings: [], manifests: [m] });
    assert.equal(result.bundles[0]!.lead, lead);
    assert.equal(result.bundles[0]!.matchedBy?.lead, 'manifest');
  });

  test('two manifests naming the same lead: it goes to neither', () => {
    const c1 = call({ file: '/data/c1.json', sessionId: 'session_1' });
    const c2 = call({ file: '/data/c2.json', sessionId: 'session_2', startTime: utc('12:00:00'), endTime: utc('12:01:00') });
    const lead = { file: '/data/leads/shared.json', time: null, sessionId: null, campaign: null, fields: { name: 'X', email: '', company: '', interest: '', phone: '', job_title: '', budget: '', timeline: '', timestamp: null, source: '', status: '' } };
    const m1 = manifest({ file: 'm1', files: { conversation: c1.file, recording: null, lead: lead.file } });
    const m2 = manifest({ file: 'm2', files: { conversation: c2.file, recording: null, lead: lead.file } });
    const result = matchRun({ calls: [c1, c2], leads: [lead], recordings: [], manifests: [m1, m2] });
    assert.deepEqual(result.bundles.map((b) => b.lead), [null, null]);
    assert.deepEqual(warningLines(result), [`W_AMBIGUOUS_LEAD ${lead.file} ${c1.file} ${c2.file}`, `W_UNMATCHED_LEAD ${lead.file}`]);
  });
});
