import { realpathSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CallRecord, LeadRecord, ManifestRecord, RecordingFacts } from '../../src/ingest/call-record.ts';
import { readInputFile } from '../../src/ingest/read-file.ts';
import { FolderResolver, resolveManifestFiles } from '../../src/ingest/resolve-path.ts';
import { walkFiles } from '../../src/ingest/walk.ts';
import { matchRun } from '../../src/match/match-run.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const FOLDERS = ['conversations', 'leads', 'recordings', 'call_metadata'].map((d) => join(FIXTURES, d));

/** Every fixture read through the real readers, manifests resolved inside the fixture folders. */
async function readFixtures(): Promise<{ calls: CallRecord[]; leads: LeadRecord[]; recordings: RecordingFacts[]; manifests: ManifestRecord[] }> {
  const out = { calls: [] as CallRecord[], leads: [] as LeadRecord[], recordings: [] as RecordingFacts[], manifests: [] as ManifestRecord[] };
  const resolver = new FolderResolver(FOLDERS);
  for (const folder of FOLDERS) {
    for await (const entry of walkFiles(folder)) {
      const read = await readInputFile(entry.path, { sourceTimezone: 'Asia/Kolkata' });
      if (read.kind === 'call') out.calls.push(read.call);
      else if (read.kind === 'lead') out.leads.push(read.lead);
      else if (read.kind === 'recording') out.recordings.push(read.recording);
      else if (read.kind === 'manifest') out.manifests.push((await resolveManifestFiles(read.manifest, resolver)).manifest);
    }
  }
  return out;
}

describe('matchRun on the real fixtures', () => {
  test('one bundle per call, with the right lead, recording and manifest', async () => {
    const result = matchRun(await readFixtures());
    const f = (p: string): string => join(FIXTURES, p);
    const bySession = new Map(result.bundles.map((b) => [b.call.sessionId, b]));
    assert.equal(result.bundles.length, 5, 'six conversation files, the LiveKit dump and its Mongo export being one call');

    const logger = bySession.get('session_20251023_075614_7e155942')!;
    assert.equal(logger.lead?.file, f('leads/lead_20251023_132655.json'));
    assert.equal(logger.matchedBy?.lead, 'create_lead');

    const pair = bySession.get('session_20251029_101619_b4ce4c7b')!;
    assert.deepEqual(pair.files?.map((x) => x.slice(FIXTURES.length)).sort(), [
      'conversations/livekit-history/transcript_session_2025-10-29T10-16-54.630373.json',
      'conversations/mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json',
    ]);
    assert.equal(pair.call.startTime, '2025-10-29T10:16:19.574Z');
    assert.equal(pair.call.items.length, 9);

    const manifested = bySession.get('session_20251029_135057_99509edf')!;
    assert.equal(manifested.manifest?.file, f('call_metadata/metadata_session_20251029_135057_99509edf.json'));
    assert.equal(manifested.recording?.file, f('recordings/number-_919999900001-1761745857.ogg'));
    assert.equal(manifested.matchedBy?.recording, 'manifest');
    assert.equal(manifested.call.callerNumber, '+919999900001');
    assert.equal(manifested.call.endTime, '2025-10-29T13:51:32.276Z', "the conversation's end wins over the manifest's");

    assert.deepEqual(result.unmatchedLeads, [f('leads/lead_20250929_133227.json')]);
    assert.deepEqual(result.unmatchedRecordings, [f('recordings/sample_tts_22050hz_mono.wav')]);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings.map((w) => w.code), ['W_UNMATCHED_LEAD', 'W_UNMATCHED_RECORDING']);
  });
});
