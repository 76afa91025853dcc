/**
 * The scan of bulk (`planRun`, each group prepared) and of watch (`collectCalls`) over a conversation and its
 * recording egress is still writing (the fixture Ogg Opus cut after a few whole pages, no end-of-stream page):
 * the recording is no bad file, it is matched to its call by its name (the epoch; no duration yet) and the
 * run says so with W_RECORDING_STILL_WRITING; the payload carries neither its size nor a duration. Real files,
 * read from disk.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectCalls, W_RECORDING_STILL_WRITING } from '../../src/bulk/collect-calls.ts';
import { planRun, type GroupMatch } from '../../src/bulk/plan-run.ts';
import { oggPageEnds } from '../helpers/ogg-pages.ts';
import { buildPayload } from '../../src/payload/build-payload.ts';
import { assertValidPayload } from '../../src/payload/validate-payload.ts';
import { generateCalls, type GeneratedCall } from '../e2e/generate-calls.ts';
import { OGG_RECORDING } from '../helpers/fixtures.ts';

const work = realpathSync(mkdtempSync(join(tmpdir(), 'crm-still-writing-')));
after(() => rmSync(work, { recursive: true, force: true }));

const whole = new Uint8Array(readFileSync(OGG_RECORDING));
/** The first three pages of the fixture: every page whole, none with end-of-stream. */
const part = whole.subarray(0, oggPageEnds(whole)[2] ?? assert.fail('the fixture has at least three pages'));

const settings = { campaignId: 'camp', voiceAgentId: 'agent', clientId: 'client', defaultCallerPhone: null, defaultRegion: 'IN' };

/** A run of one call with its recording, still being written; the folders and the call. */
function run(name: string) {
  const set = generateCalls(join(work, name), { count: 1, recordingEvery: 1 });
  const call = set.calls[0] as GeneratedCall;
  writeFileSync(call.recordingFile as string, part);
  const options = { conversationsDir: set.conversationsDir, leadsDir: set.leadsDir, recordingsDir: set.recordingsDir, sourceTimezone: 'Asia/Kolkata', defaultRegion: 'IN' };
  return { set, call, options, recording: call.recordingFile as string };
}

/** Every group of a plan, prepared. */
async function prepared(options: Parameters<typeof planRun>[0]): Promise<{ groups: GroupMatch[]; errors: { file: string; reason: string }[] }> {
  const plan = await planRun({ ...options, planDir: join(work, 'plans') });
  try {
    const groups: GroupMatch[] = [];
    for (let k = 0; k < plan.groups; k++) groups.push(await plan.prepare(k));
    return { groups, errors: plan.errors };
  } finally {
    plan.close();
  }
}

describe('a recording still being written, scanned with its call', () => {
  test('bulk (planRun): matched by its name, a W_RECORDING_STILL_WRITING warning, no error; no size nor duration in the payload', async () => {
    const { call, options, recording } = run('bulk');
    const { groups, errors } = await prepared(options);
    assert.deepEqual(errors, [], 'the scan reports no bad file');
    assert.deepEqual(groups.flatMap((g) => g.errors), []);
    const bundles = groups.flatMap((g) => g.bundles);
    assert.equal(bundles.length, 1);
    const [b] = bundles;
    assert.equal(b?.call.file, call.file);
    assert.deepEqual(b?.recording, { file: recording, number: call.callerNumber?.slice(1), epoch: Math.floor(call.startMs / 1000), size: part.length, durationSec: null, stillWriting: true });
    assert.equal(b?.matchedBy?.recording, 'time_window');
    const warnings = groups.flatMap((g) => g.warnings);
    assert.deepEqual(warnings.map((w) => [w.code, w.files]), [[W_RECORDING_STILL_WRITING, [recording, call.file]]]);
    assert.match(warnings[0]?.message ?? '', /still being written: matched by its name to .*; the worker uploads it once finished \(waits up to CRM_RECORDING_WAIT_MS\)/);

    const payload = buildPayload(b!, settings);
    assertValidPayload(payload);
    assert.equal(payload.callDetails.callId, call.callId);
    assert.equal(payload.callDetails.callerNumber, call.callerNumber);
    assert.equal('recordingSize' in payload.callDetails, false);
    assert.equal('recordingDuration' in payload.callDetails, false);
  });

  test('watch (collectCalls): the same bundle and warning', async () => {
    const { call, options, recording } = run('watch');
    const found = await collectCalls(options);
    assert.deepEqual(found.errors, []);
    assert.equal(found.bundles.length, 1);
    assert.equal(found.bundles[0]?.recording?.file, recording);
    assert.equal(found.bundles[0]?.recording?.stillWriting, true);
    assert.deepEqual(found.warnings.map((w) => [w.code, w.files]), [[W_RECORDING_STILL_WRITING, [recording, call.file]]]);
  });

  test('finished between the scan and its group being prepared: read again whole, no warning, its real figures', async () => {
    const { call, options, recording } = run('finished-later');
    const plan = await planRun({ ...options, planDir: join(work, 'plans') });
    try {
      assert.deepEqual(plan.errors, []);
      copyFileSync(OGG_RECORDING, recording);
      const groups: GroupMatch[] = [];
      for (let k = 0; k < plan.groups; k++) groups.push(await plan.prepare(k));
      const bundles = groups.flatMap((g) => g.bundles);
      assert.equal(bundles.length, 1);
      assert.deepEqual(bundles[0]?.recording, { file: recording, number: call.callerNumber?.slice(1), epoch: Math.floor(call.startMs / 1000), size: whole.length, durationSec: 8 });
      assert.deepEqual(groups.flatMap((g) => g.warnings), []);
      const payload = buildPayload(bundles[0]!, settings);
      assert.deepEqual([payload.callDetails.recordingSize, payload.callDetails.recordingDuration], [whole.length, 8]);
    } finally {
      plan.close();
    }
  });
});
