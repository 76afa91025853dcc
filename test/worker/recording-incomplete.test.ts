/**
 * A recording egress has not finished (an Ogg Opus file whose last page has no end-of-stream flag, its size
 * holding still) is waited for like a growing one (docs/architecture.md, "Recording step"): nothing reaches
 * the local CRM while it is unfinished; once finished it is uploaded once and the call carries the duration of
 * the whole recording. One never finished goes out without it after CRM_RECORDING_WAIT_MS, with the reason,
 * and without any duration read from the part written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oggPageEnds } from '../helpers/ogg-pages.ts';
import { deliverCalls } from '../../src/worker/worker.ts';
import { runPipeline, toolsSkipReason } from '../helpers/debian-tools.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { items, setup, testConfig } from './harness.ts';

describe('a recording still being written', { skip: toolsSkipReason('sox', 'opusenc'), timeout: 90_000 }, () => {
  let crm: LocalCrm;
  let dir = '';
  /** A 13 s Ogg Opus recording (one page per second, so more than 13 pages). */
  let full = new Uint8Array();
  /** Its bytes up to a page boundary a few seconds in: every page whole, none with end-of-stream. */
  let partial = new Uint8Array();
  before(async () => {
    crm = await startTestCrm();
    dir = await mkdtemp(join(tmpdir(), 'crm-rec-incomplete-'));
    const wav = join(dir, 'source.wav');
    const ogg = join(dir, 'source.ogg');
    await runPipeline(`sox -n -r 48000 -c 1 -b 16 '${wav}' synth 13 sine 440 2>/dev/null && opusenc --quiet '${wav}' '${ogg}'`);
    full = new Uint8Array(await readFile(ogg));
    partial = full.subarray(0, oggPageEnds(full)[5]);
  });
  after(async () => {
    await crm.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('waits while the last page has no end-of-stream flag, then sends the whole duration once', async (t) => {
    await crmAdmin(crm.url).reset();
    const config = testConfig({ recordingWaitMs: 60_000 });
    const h = setup(crm.url, config);
    t.after(() => h.close());
    const path = join(dir, 'number-_919999900001-1761745857.ogg');
    await writeFile(path, partial);
    const list = items(1, 40, path);
    await h.store.enqueueMany(list);
    const callId = list[0]?.callId ?? '';

    const delivering = deliverCalls({ store: h.store, client: h.client, config, callIds: [callId], maxWaitMs: 60_000 });
    // The worker looked at the file, found it unfinished, and gave the attempt back without a request.
    await waitFor('a not-ready attempt', async () => (await h.store.history(callId)).some((e) => e.outcome === 'not-ready' && /not finished/.test(e.error ?? '')), 30_000);
    const before = await crmAdmin(crm.url).stats();
    assert.equal(before.uploads, 0, 'no upload of an unfinished recording');
    assert.equal(before.callDataPosts, 0, 'no call data while the recording may still come');
    assert.match((await h.store.history(callId)).find((e) => e.outcome === 'not-ready')?.error ?? '', /no end-of-stream flag/);

    await appendFile(path, full.subarray(partial.length));
    const summary = await delivering;
    assert.equal(summary.delivered, 1);
    const stats = await crmAdmin(crm.url).stats();
    assert.equal(stats.uploads, 1);
    assert.equal(stats.callDataPosts, 1);
    const [stored] = await crmAdmin(crm.url).calls();
    assert.equal(stored?.callDetails.recordingDuration, 13, 'the whole recording, not the part first seen');
    assert.equal(stored?.callDetails.recordingSize, full.length);
    assert.equal(typeof stored?.callDetails.recordingUrl, 'string');
    assertValidPayload(stored);
  });

  test('never finished: sent without the recording after CRM_RECORDING_WAIT_MS, with no duration and the reason', async (t) => {
    await crmAdmin(crm.url).reset();
    const config = testConfig({ recordingWaitMs: 800 });
    const h = setup(crm.url, config);
    t.after(() => h.close());
    const path = join(dir, 'number-_919999900002-1761745857.ogg');
    await writeFile(path, partial);
    const list = items(1, 41, path);
    await h.store.enqueueMany(list);
    const callId = list[0]?.callId ?? '';

    const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: [callId], maxWaitMs: 30_000 });
    assert.equal(summary.delivered, 1);
    assert.match(summary.perCall.get(callId)?.recording.note ?? '', /not finished .*no end-of-stream flag.*within CRM_RECORDING_WAIT_MS; sent without recording/);
    const stats = await crmAdmin(crm.url).stats();
    assert.equal(stats.uploads, 0);
    assert.equal(stats.callDataPosts, 1);
    const [stored] = await crmAdmin(crm.url).calls();
    assert.equal(stored?.callDetails.recordingUrl, undefined);
    assert.equal(stored?.callDetails.recordingDuration, undefined, 'no duration read from the part written');
    assertValidPayload(stored);
  });
});
