/**
 * Recording step: the upload happens once even when the call-data POST fails and is retried, and when
 * the worker is killed between the upload and the POST; a recording the CRM refuses for good, or one
 * that never appears, goes out without `recordingUrl` and the reason is recorded.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeAudio } from '../../src/ingest/audio.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { withRecording } from '../../src/payload/build-payload.ts';
import { deliverCalls } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { assertValidPayload, makePayload } from '../helpers/payloads.ts';
import { cliEnv, DELIVER_CHILD, spawnNode } from './child.ts';
import { items, RECORDING_FIXTURE, RECORDING_FIXTURE_SIZE, setup, testConfig } from './harness.ts';

function uploadUrlOf(body: unknown): string {
  const url = (body as { data?: { url?: unknown } } | null)?.data?.url;
  assert.equal(typeof url, 'string');
  return url as string;
}

describe('recording step', () => {
  let crm: LocalCrm;
  test.before(async () => {
    crm = await startTestCrm();
  });
  test.after(() => crm.close());
  test.beforeEach(() => crmAdmin(crm.url).reset());

  test('uploaded once although the call-data POST fails twice and is retried', async (t) => {
    const config = testConfig();
    const h = setup(crm.url, config);
    t.after(() => h.close());
    const admin = crmAdmin(crm.url);
    await admin.faults({ forceStatus: { status: 503, count: 2 } });
    const list = items(1, 0, RECORDING_FIXTURE);
    await h.store.enqueueMany(list);

    const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: [list[0]?.callId ?? ''], maxWaitMs: 10_000 });
    assert.equal(summary.delivered, 1);
    const stats = await admin.stats();
    assert.equal(stats.uploads, 1, 'one upload request');
    assert.equal(stats.callDataPosts, 3, 'two 503s, then delivered');

    const item = summary.perCall.get(list[0]?.callId ?? '');
    assert.ok(item?.recording.url);
    assert.equal(item.recording.size, RECORDING_FIXTURE_SIZE);
    const { durationSec } = await probeAudio(RECORDING_FIXTURE);
    const [stored] = await admin.calls();
    assert.deepEqual(stored, withRecording(makePayload(0), { url: item.recording.url, size: RECORDING_FIXTURE_SIZE, duration: durationSec }));
    assertValidPayload(stored);
    const upload = (await admin.requests()).find((r) => r.path.endsWith('/upload'));
    assert.equal(upload?.idempotencyKey, `crm-upload:recording:${list[0]?.callId}`);

    // The call's timeline: the upload and a 503 in the first attempt, then a 503, then delivered.
    const history = await h.store.history(list[0]?.callId ?? '');
    assert.deepEqual(
      history.map((e) => [e.attempt, e.step, e.status, e.outcome]),
      [
        [1, 'recording', 200, 'uploaded'],
        [1, 'call-data', 503, 'retry'],
        [2, 'call-data', 503, 'retry'],
        [3, 'call-data', 201, 'delivered'],
      ],
    );
    assert.ok(history.every((e, i) => e.durationMs >= 0 && (i === 0 || e.at >= (history[i - 1]?.at ?? 0))), 'in time order, with durations');
    assert.match(history[1]?.error ?? '', /503/);
    assert.equal(history[3]?.error, null);
  });

  test('uploaded once when the worker is killed between the upload and the POST', { timeout: 30_000 }, async (t) => {
    const h = setup(crm.url, testConfig());
    t.after(() => h.close());
    const admin = crmAdmin(crm.url);
    // 60/min: the POST waits a full second after the upload, a window in which the child is killed.
    const env = cliEnv(h.dbPath, crm.url, { CRM_TIMEOUT_MS: '500ms', CRM_RATE_LIMIT: '60', CRM_RECORDING_WAIT_MS: '2s' });
    const callId = makePayload(0).callDetails.callId;

    const child = spawnNode(DELIVER_CHILD, ['1', RECORDING_FIXTURE], env);
    // Kill only once the URL is durably checkpointed (read from the outbox file by this process).
    for (;;) {
      const item = await h.store.get(callId);
      if (item?.recording.url) break;
      assert.equal(child.child.exitCode, null, `child ended early: ${child.stderr()}`);
      await sleep(10);
    }
    child.child.kill('SIGKILL');
    await child.exited;
    let stats = await admin.stats();
    assert.equal(stats.uploads, 1);
    assert.equal(stats.callDataPosts, 0, 'killed before the POST');

    const again = spawnNode(DELIVER_CHILD, ['1', RECORDING_FIXTURE], { ...env, CRM_RATE_LIMIT: '0' });
    const { code } = await again.exited;
    assert.equal(code, 0, again.stderr());
    stats = await admin.stats();
    assert.equal(stats.uploads, 1, 'the restarted worker did not upload again');
    assert.equal(stats.callDataPosts, 1);
    const [stored] = await admin.calls();
    const uploads = (await admin.requests()).filter((r) => r.path.endsWith('/upload'));
    assert.equal(uploads.length, 1);
    const item = await h.store.get(callId);
    assert.equal(stored?.callDetails.recordingUrl, item?.recording.url);
    assert.equal(stored?.callDetails.recordingSize, RECORDING_FIXTURE_SIZE);
    assert.equal(item?.state, 'delivered');
  });

  test('a permanently refused upload: sent without recordingUrl, reason recorded', async (t) => {
    const config = testConfig();
    const h = setup(crm.url, config);
    t.after(() => h.close());
    const admin = crmAdmin(crm.url);
    await admin.faults({ uploadStatus: { status: 415, message: 'unsupported media type' } });
    const list = items(1, 5, RECORDING_FIXTURE);
    await h.store.enqueueMany(list);
    const callId = list[0]?.callId ?? '';
    const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: [callId], maxWaitMs: 10_000 });
    assert.equal(summary.delivered, 1);
    const item = summary.perCall.get(callId);
    assert.equal(item?.recording.url, null);
    assert.match(item?.recording.note ?? '', /415.*unsupported media type/);
    const [stored] = await admin.calls();
    assert.equal(stored?.callDetails.recordingUrl, undefined);
    assert.equal((await admin.stats()).uploads, 1);
  });

  test('a recording that never appears: sent without it after CRM_RECORDING_WAIT_MS', async (t) => {
    const config = testConfig({ recordingWaitMs: 400 });
    const h = setup(crm.url, config);
    t.after(() => h.close());
    const list = items(1, 6, '/nonexistent/recordings/number-_919999900001-1761745857.ogg');
    await h.store.enqueueMany(list);
    const callId = list[0]?.callId ?? '';
    const started = Date.now();
    const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: [callId], maxWaitMs: 10_000 });
    assert.equal(summary.delivered, 1);
    assert.ok(Date.now() - started >= 300, 'it waited for the file');
    assert.match(summary.perCall.get(callId)?.recording.note ?? '', /not found/);
    const stats = await crmAdmin(crm.url).stats();
    assert.equal(stats.uploads, 0);
    assert.equal(stats.callDataPosts, 1);
  });
});
