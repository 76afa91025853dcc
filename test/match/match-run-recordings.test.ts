import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matchRun } from '../../src/match/match-run.ts';
import type { CallRecord, RecordingFacts } from '../../src/ingest/call-record.ts';
import { call, istLead, leadAttachments, manifest, recording, recordingAttachments, utc, warningLines } from './factories.ts';

const P = call({ file: '/data/p.json', sessionId: 'session_P', startTime: utc('13:50:57.987'), endTime: utc('13:51:32.276') });

/** A LiveKit history without manifest: timed by its file name, the save time, as start = end. */
function livekitDump(savedAt: string, over: Partial<CallRecord> = {}): CallRecord {
  return call({
    file: `/data/conversations/livekit/transcript_session_${savedAt}.json`,
    format: 'livekit-history',
    sessionId: 'session_lk',
    sessionIdDerived: true,
    startTime: utc(savedAt),
    endTime: utc(savedAt),
    timesFrom: 'file_name',
    ...over,
  });
}

describe('matchRun: recordings by time', () => {
  const rows: { name: string; rec: RecordingFacts; callNumber?: string; explicitPhone?: string; attached: boolean }[] = [
    { name: 'epoch = start (to the second)', rec: recording(utc('13:50:57')), attached: true },
    { name: 'epoch 119 s after the start', rec: recording(utc('13:52:56')), attached: true },
    { name: 'epoch 120 s before the start, inclusive', rec: recording(utc('13:48:57.987')), attached: true },
    { name: 'epoch 121 s after the start', rec: recording(utc('13:52:59')), attached: false },
    { name: 'the number agrees with the manifest\'s', rec: recording(utc('13:50:57')), callNumber: '+91 99999 00001', attached: true },
    { name: 'the number disagrees with the manifest\'s', rec: recording(utc('13:50:57')), callNumber: '+919999900002', attached: false },
    { name: 'the number disagrees with the argument', rec: recording(utc('13:50:57')), explicitPhone: '9999900002', attached: false },
    { name: 'the recording has no number', rec: recording(utc('13:50:57'), { number: null }), callNumber: '+919999900002', attached: true },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const c: CallRecord = { ...P, callerNumber: row.callNumber ?? null };
      const explicit = row.explicitPhone === undefined ? undefined : { callerPhone: row.explicitPhone };
      const result = matchRun({ calls: [c], leads: [], recordings: [row.rec], manifests: [], ...(explicit ? { explicit } : {}) });
      assert.deepEqual(recordingAttachments(result), [['session_P', row.attached ? row.rec.file : null, row.attached ? 'time_window' : undefined]]);
      assert.deepEqual(result.unmatchedRecordings, row.attached ? [] : [row.rec.file]);
      // A known start is never moved by a recording.
      assert.equal(result.bundles[0]!.call.startTime, P.startTime);
    });
  }

  test('a call with an unknown start is found by its end and takes the epoch as start', () => {
    const dump = livekitDump('10:16:54.630');
    const rec = recording(utc('10:16:20'), { durationSec: 33 }); // ends 10:16:53, 1.6 s before the save
    const result = matchRun({ calls: [dump], leads: [], recordings: [rec], manifests: [] });
    assert.deepEqual(recordingAttachments(result), [['session_lk', rec.file, 'time_window_end']]);
    const out = result.bundles[0]!.call;
    assert.equal(out.startTime, '2025-10-29T10:16:20.000Z');
    assert.equal(out.endTime, '2025-10-29T10:16:54.630Z');
    assert.equal(out.timesFrom, 'recording');
  });

  test('an unknown-start call is not matched by its save time against the epoch', () => {
    const dump = livekitDump('10:16:54.630');
    const rec = recording(utc('10:16:54'), { durationSec: 600 }); // starts at the save time, ends 10 min later
    const result = matchRun({ calls: [dump], leads: [], recordings: [rec], manifests: [] });
    assert.deepEqual(recordingAttachments(result), [['session_lk', null, undefined]]);
    assert.equal(result.bundles[0]!.call.timesFrom, 'file_name');
  });

  test('a call whose start comes from the recording is then matched to a lead written during it', () => {
    const dump = livekitDump('10:16:54.630');
    const rec = recording(utc('10:16:20'), { durationSec: 33 });
    const written = istLead('15:46:40', { file: 'during' }); // 10:16:40 UTC: inside only once the start is known
    const result = matchRun({ calls: [dump], leads: [written], recordings: [rec], manifests: [] });
    assert.deepEqual(leadAttachments(result), [['session_lk', 'during', 'time_window']]);
  });

  test('two calls starting within 2 min of the epoch: the recording goes to neither', () => {
    const Q = call({ ...P, file: '/data/q.json', sessionId: 'session_Q', startTime: utc('13:51:30') });
    const rec = recording(utc('13:51:10'));
    const result = matchRun({ calls: [P, Q], leads: [], recordings: [rec], manifests: [] });
    assert.deepEqual(recordingAttachments(result), [['session_P', null, undefined], ['session_Q', null, undefined]]);
    assert.deepEqual(warningLines(result), [`W_AMBIGUOUS_RECORDING ${rec.file} /data/p.json /data/q.json`, `W_UNMATCHED_RECORDING ${rec.file}`]);
    assert.deepEqual(result.unmatchedRecordings, [rec.file]);
  });

  test('a number that rules out one of two close calls leaves no ambiguity', () => {
    const Q = call({ ...P, file: '/data/q.json', sessionId: 'session_Q', startTime: utc('13:51:30'), callerNumber: '+919999900002' });
    const rec = recording(utc('13:51:10'));
    const result = matchRun({ calls: [P, Q], leads: [], recordings: [rec], manifests: [] });
    assert.deepEqual(recordingAttachments(result), [['session_P', rec.file, 'time_window'], ['session_Q', null, undefined]]);
    assert.deepEqual(warningLines(result), []);
  });

  test('a call that fits two recordings gets neither', () => {
    const r1 = recording(utc('13:50:50'), { number: '919999900001' });
    const r2 = recording(utc('13:51:00'), { number: '919999900002' });
    const result = matchRun({ calls: [P], leads: [], recordings: [r1, r2], manifests: [] });
    assert.deepEqual(recordingAttachments(result), [['session_P', null, undefined]]);
    assert.deepEqual(warningLines(result), [`W_AMBIGUOUS_RECORDING /data/p.json ${r1.file} ${r2.file}`, `W_UNMATCHED_RECORDING ${r1.file}`, `W_UNMATCHED_RECORDING ${r2.file}`]);
  });

  test('an explicit recording wins over one matching by time, and gives an unknown start', () => {
    const dump = livekitDump('10:16:54.630');
    const byTime = recording(utc('10:16:20'), { durationSec: 33 });
    const given = recording(utc('10:16:00'), { file: '/elsewhere/given.ogg', durationSec: 10 });
    const result = matchRun({ calls: [dump], leads: [], recordings: [byTime], manifests: [], explicit: { recording: given } });
    assert.deepEqual(recordingAttachments(result), [['session_lk', '/elsewhere/given.ogg', 'explicit']]);
    assert.equal(result.bundles[0]!.call.startTime, '2025-10-29T10:16:00.000Z');
    assert.deepEqual(result.unmatchedRecordings, [byTime.file]);
  });

  test('a recording named by a manifest but not found: no other recording by time', () => {
    const conv = call({ file: '/data/m.json', sessionId: 'session_M', startTime: utc('13:50:57'), endTime: utc('13:51:30') });
    const m = manifest({ files: { conversation: '/data/m.json', recording: null, lead: null }, rawFiles: { conversation: '/srv/m.json', recording: '/srv/rec.ogg', lead: null } });
    const near = recording(utc('13:50:58'));
    const result = matchRun({ calls: [conv], leads: [], recordings: [near], manifests: [m] });
    assert.deepEqual(recordingAttachments(result), [['session_M', null, undefined]]);
    assert.deepEqual(warningLines(result), [`W_MANIFEST_RECORDING_MISSING ${m.file} /srv/rec.ogg`, `W_UNMATCHED_RECORDING ${near.file}`]);
  });
});
