import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matchRun } from '../../src/match/match-run.ts';
import { generatedRun } from './factories.ts';

describe('matchRun at scale', () => {
  test('20,000 calls and leads: each lead and recording on its own call', () => {
    const n = 20_000;
    const run = generatedRun(n);
    const result = matchRun({ ...run, manifests: [] });
    assert.equal(result.bundles.length, n);
    const how = ['session_id', 'create_lead', 'time_window'];
    result.bundles.forEach((b, i) => {
      assert.equal(b.call.sessionId, `session_${i}`);
      assert.equal(b.lead?.file, `/data/l/${i}.json`);
      assert.equal(b.matchedBy?.lead, how[i % 3]);
      assert.equal(b.recording?.file, `/data/r/${i}.ogg`);
    });
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.unmatchedLeads, []);
    assert.deepEqual(result.unmatchedRecordings, []);
  });
});
