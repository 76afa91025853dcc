/**
 * Chaos scenario 6 (issue 17): the CRM's strange answers, each classified as docs/architecture.md,
 * "Delivery" → "Outcomes" says, proved end to end through the worker against the local CRM's
 * `strangeAnswer` and `forceStatus` faults: a 200 with an HTML page; a 201 with invalid JSON; a 302 to
 * another host; a 413; a 401 and a 403; a body that never ends; a 201 arriving just before the timeout.
 * Each case ends with the CRM's side checked (one key, identical bytes, the bound on repeats), nothing in
 * flight, and a fresh call delivered by the same client and outbox.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { idempotencyKey } from '../../src/crm/idempotency.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { deliverCalls, type WorkerConfig } from '../../src/worker/worker.ts';
import { crmAdmin, spawnLocalCrmProcess, startTestCrm, type CrmAdmin, type FaultsUpdate, type LocalCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { CLI_MAIN } from '../worker/child.ts';
import { items, RECORDING_FIXTURE, RECORDING_FIXTURE_SIZE, setup, testConfig } from '../worker/harness.ts';
import { assertCrmSide, assertOutboxSettled, postsOf, UPLOAD_PATH } from './harness.ts';

type Harness = ReturnType<typeof setup>;

interface Case {
  crm: LocalCrm;
  admin: CrmAdmin;
  h: Harness;
  config: WorkerConfig;
}

/** A CRM, an outbox and a client for one case; all closed after it. */
async function openCase(t: TestContext, over: Partial<WorkerConfig> = {}): Promise<Case> {
  const crm = await startTestCrm();
  const config = testConfig({ concurrency: 2, retryScheduleMs: [50], maxAttempts: 5, ...over });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  return { crm, admin: crmAdmin(crm.url), h, config };
}

async function deliver(c: Case, callIds: readonly string[]): ReturnType<typeof deliverCalls> {
  return deliverCalls({ store: c.h.store, client: c.h.client, config: c.config, callIds, maxWaitMs: 20_000 });
}

/** The process still works: with the faults cleared, a fresh call goes out once. */
async function assertStillDelivers(c: Case, index: number): Promise<void> {
  await c.admin.faults({ strangeAnswer: null, forceStatus: null, uploadStatus: null, latencyMs: 0 });
  const [fresh] = items(1, index);
  assert.ok(fresh);
  await c.h.store.enqueue(fresh);
  const summary = await deliver(c, [fresh.callId]);
  assert.equal(summary.delivered, 1, 'a fresh call after the fault');
  assert.equal(postsOf(await c.admin.requests(), fresh.callId).length, 1);
}

/** Stored payload back to the enqueued one: the recording's URL and figures removed. */
function withoutRecording(p: CallPayload): CallPayload {
  const { recordingUrl: _u, recordingSize: _s, recordingDuration: _d, ...callDetails } = p.callDetails;
  return { ...p, callDetails };
}

describe('chaos: the CRM answers strangely', () => {
  test('a 200 with an HTML page is not a delivery: retried under the same key, then delivered', async (t) => {
    const c = await openCase(t);
    await c.admin.faults({ strangeAnswer: { kind: 'html', count: 1 } });
    const list = items(1, 100);
    await c.h.store.enqueueMany(list);
    const callId = list[0]!.callId;

    const summary = await deliver(c, [callId]);
    assert.equal(summary.delivered, 1);
    const history = await c.h.store.history(callId);
    assert.deepEqual(history.map((e) => [e.status, e.outcome]), [[200, 'retry'], [201, 'delivered']]);
    assert.match(history[0]?.error ?? '', /HTML page \("Sign in"\), not the CRM's JSON answer/);
    const stats = await c.admin.stats();
    assert.equal(stats.faults.strangeAnswer, 1);
    await assertCrmSide(c.admin, list.map((i) => i.payload), { maxPostsPerCall: 2 });
    assert.equal(postsOf(await c.admin.requests(), callId).length, 2);
    await assertOutboxSettled(c.h.store, { delivered: 1 });
    await assertStillDelivers(c, 101);
  });

  test('an HTML page on every answer: nothing taken as delivered, dead after the schedule with the reason, replayed once fixed', async (t) => {
    const c = await openCase(t, { maxAttempts: 3 });
    await c.admin.faults({ strangeAnswer: { kind: 'html' } });
    const list = items(2, 110);
    await c.h.store.enqueueMany(list);
    const ids = list.map((i) => i.callId);

    const first = await deliver(c, ids);
    assert.deepEqual({ delivered: first.delivered, dead: first.dead }, { delivered: 0, dead: 2 });
    for (const id of ids) {
      const item = await c.h.store.get(id);
      assert.match(item?.lastError ?? '', /^gave up after 3 attempts: HTTP 200 with an HTML page/);
      assert.equal(postsOf(await c.admin.requests(), id).length, 3);
    }
    assert.equal((await c.admin.calls()).length, 0, 'an HTML page stored nothing');

    // The operator fixes the URL (here: the fault ends) and replays the dead letters: nothing was lost.
    await c.admin.faults({ strangeAnswer: null });
    assert.equal(await c.h.store.replay(ids), 2);
    const second = await deliver(c, ids);
    assert.equal(second.delivered, 2);
    await assertCrmSide(c.admin, list.map((i) => i.payload), { maxPostsPerCall: 4 });
    await assertOutboxSettled(c.h.store, { delivered: 2 });
    await assertStillDelivers(c, 112);
  });

  test('a 201 with invalid JSON to the call data: delivered, not sent again', async (t) => {
    const c = await openCase(t);
    await c.admin.faults({ strangeAnswer: { kind: 'invalid-json', count: 1 } });
    const list = items(1, 120);
    await c.h.store.enqueueMany(list);
    const callId = list[0]!.callId;

    const summary = await deliver(c, [callId]);
    assert.equal(summary.delivered, 1);
    assert.equal(summary.perCall.get(callId)?.attempts, 1);
    assert.equal((await c.admin.stats()).faults.strangeAnswer, 1);
    await assertCrmSide(c.admin, list.map((i) => i.payload), { maxPostsPerCall: 1 });
    await assertOutboxSettled(c.h.store, { delivered: 1 });
    await assertStillDelivers(c, 121);
  });

  test('a 201 with invalid JSON to the upload: asked again under the same key, one file stored, the call links it', async (t) => {
    const c = await openCase(t);
    await c.admin.faults({ strangeAnswer: { kind: 'invalid-json', on: 'upload', count: 1 } });
    const list = items(1, 130, RECORDING_FIXTURE);
    await c.h.store.enqueueMany(list);
    const callId = list[0]!.callId;

    const summary = await deliver(c, [callId]);
    assert.equal(summary.delivered, 1);
    const stats = await c.admin.stats();
    assert.deepEqual({ stored: stats.uploadsStored, replays: stats.uploadReplays }, { stored: 1, replays: 1 });
    const uploads = (await c.admin.requests()).filter((r) => r.path === UPLOAD_PATH);
    assert.deepEqual(uploads.map((r) => r.idempotencyKey), [idempotencyKey(callId, 'recording'), idempotencyKey(callId, 'recording')]);
    const [stored] = await c.admin.calls();
    const [upload] = (await (await fetch(`${c.crm.url}/__admin/uploads`)).json()) as { filename: string }[];
    assert.ok(upload);
    assert.equal(stored?.callDetails.recordingUrl, `${c.crm.url}/apis/uploads/recordings/${upload.filename}`);
    assert.equal(stored?.callDetails.recordingSize, RECORDING_FIXTURE_SIZE);
    const history = await c.h.store.history(callId);
    assert.match(history[0]?.error ?? '', /HTTP 200 with an answer that is not valid JSON/);
    await assertCrmSide(c.admin, list.map((i) => i.payload), { maxPostsPerCall: 1, recordings: [callId] }, withoutRecording);
    await assertOutboxSettled(c.h.store, { delivered: 1 });
    await assertStillDelivers(c, 131);
  });

  test('a 302 to another host: not followed (the other host sees nothing), dead with the Location, replayed once fixed', async (t) => {
    const other = await listenElsewhere(t);
    const c = await openCase(t);
    await c.admin.faults({ strangeAnswer: { kind: 'redirect', location: `${other.url}/moved`, count: 1 } });
    const list = items(1, 140);
    await c.h.store.enqueueMany(list);
    const callId = list[0]!.callId;

    const summary = await deliver(c, [callId]);
    assert.equal(summary.dead, 1);
    const item = await c.h.store.get(callId);
    assert.equal(item?.lastStatus, 302);
    assert.ok(item?.lastError?.includes(`redirect to ${other.url}/moved not followed`), item?.lastError ?? '');
    assert.equal(other.requests(), 0, 'the redirect was followed to the other host');
    assert.equal((await c.admin.calls()).length, 0);

    assert.equal(await c.h.store.replay([callId]), 1);
    assert.equal((await deliver(c, [callId])).delivered, 1);
    await assertCrmSide(c.admin, list.map((i) => i.payload), { maxPostsPerCall: 2 });
    await assertOutboxSettled(c.h.store, { delivered: 1 });
    assert.equal(other.requests(), 0);
    await assertStillDelivers(c, 141);
  });

  test('a 413 to the call data is dead at once; a 413 to the upload sends the call without its recording', async (t) => {
    const c = await openCase(t);
    const [big] = items(1, 150);
    const [withRec] = items(1, 151, RECORDING_FIXTURE);
    assert.ok(big && withRec);
    await c.admin.faults({
      forceStatus: { status: 413, callId: big.callId, message: 'Payload Too Large' },
      uploadStatus: { status: 413, message: 'File too large' },
    });
    await c.h.store.enqueueMany([big, withRec]);

    const summary = await deliver(c, [big.callId, withRec.callId]);
    assert.deepEqual({ delivered: summary.delivered, dead: summary.dead }, { delivered: 1, dead: 1 });
    const dead = await c.h.store.get(big.callId);
    assert.equal(dead?.attempts, 1);
    assert.equal(dead?.lastError, 'HTTP 413: Payload Too Large');
    const sent = await c.h.store.get(withRec.callId);
    assert.match(sent?.recording.note ?? '', /recording upload rejected: HTTP 413: File too large; sent without recording/);
    const requests = await c.admin.requests();
    assert.equal(postsOf(requests, big.callId).length, 1, 'a 413 is not sent again');
    assert.equal(requests.filter((r) => r.path === UPLOAD_PATH).length, 1, 'a refused upload is not sent again');
    const [stored] = await c.admin.calls();
    assert.equal(stored?.callDetails.recordingUrl, undefined);
    // The call went out as enqueued, without any recording field.
    assert.deepEqual(stored, withRec.payload);
    await assertOutboxSettled(c.h.store, { delivered: 1, dead: 1 });
    await assertStillDelivers(c, 152);
  });

  test('a 401 then a 403: the key is refused, not the call — retried under the same key, delivered once the key works', async (t) => {
    const c = await openCase(t);
    await c.admin.faults({
      forceStatus: [
        { status: 401, count: 1, message: 'Unauthorized' },
        { status: 403, count: 1, message: 'Forbidden' },
      ],
    });
    const list = items(1, 160);
    await c.h.store.enqueueMany(list);
    const callId = list[0]!.callId;

    const summary = await deliver(c, [callId]);
    assert.equal(summary.delivered, 1);
    const history = await c.h.store.history(callId);
    assert.deepEqual(history.map((e) => [e.status, e.outcome]), [[401, 'retry'], [403, 'retry'], [201, 'delivered']]);
    assert.equal(history[0]?.error, 'HTTP 401: Unauthorized (is CRM_API_KEY right?)');
    await assertCrmSide(c.admin, list.map((i) => i.payload), { maxPostsPerCall: 3 });
    await assertOutboxSettled(c.h.store, { delivered: 1 });
    await assertStillDelivers(c, 161);
  });

  test('a body that never ends: the deadline ends it, and one request more makes it good, the CRM holding it once', async (t) => {
    const c = await openCase(t, { timeoutMs: 1_000 });
    await c.admin.faults({ strangeAnswer: [{ kind: 'endless-body', count: 1 }, { kind: 'endless-body', on: 'upload', count: 1 }] });
    const [plain] = items(1, 170);
    const [withRec] = items(1, 171, RECORDING_FIXTURE);
    assert.ok(plain && withRec);
    await c.h.store.enqueue(plain);

    assert.equal((await deliver(c, [plain.callId])).delivered, 1);
    const history = await c.h.store.history(plain.callId);
    assert.deepEqual(history[0] && [history[0].status, history[0].outcome], [null, 'retry']);
    assert.match(history[0]?.error ?? '', /^timeout: no complete answer within 1000 ms/);
    assert.equal(history.at(-1)?.outcome, 'delivered');
    // Made good with one request more: the POST again under its key, answered from the record, or the
    // listing that finds the call (docs/architecture.md, "Delivery" → "Verify before re-sending").
    const stats = await c.admin.stats();
    const posts = postsOf(await c.admin.requests(), plain.callId).length;
    assert.equal(stats.created, 1);
    if (posts === 2) assert.equal(stats.replays, 1);
    else assert.deepEqual({ posts, listed: stats.listRequests }, { posts: 1, listed: 1 });

    // The same on the upload: the file is kept once, the retry gets its URL.
    await c.h.store.enqueue(withRec);
    assert.equal((await deliver(c, [withRec.callId])).delivered, 1);
    const after = await c.admin.stats();
    assert.deepEqual({ stored: after.uploadsStored, replays: after.uploadReplays }, { stored: 1, replays: 1 });
    const linked = (await c.admin.calls()).find((p) => p.callDetails.callId === withRec.callId);
    assert.match(linked?.callDetails.recordingUrl ?? '', /\/apis\/uploads\/recordings\//);

    await assertCrmSide(c.admin, [plain.payload, withRec.payload], { maxPostsPerCall: 2, recordings: [withRec.callId] }, withoutRecording);
    await assertOutboxSettled(c.h.store, { delivered: 2 });
    await assertStillDelivers(c, 172);
  });

  test('a 201 arriving just before the timeout is a delivery: one POST, one attempt', async (t) => {
    // 1.5 s of a 3 s deadline: near it, yet with room for a loaded machine.
    const c = await openCase(t, { timeoutMs: 3_000 });
    await c.admin.faults({ latencyMs: 1_500 });
    const payload = makePayload(180);
    const list = [{ callId: payload.callDetails.callId, payload, recordingPath: null, sourceFile: null }];
    await c.h.store.enqueueMany(list);

    const summary = await deliver(c, [payload.callDetails.callId]);
    assert.equal(summary.delivered, 1);
    assert.equal(summary.perCall.get(payload.callDetails.callId)?.attempts, 1);
    const [entry] = await c.h.store.history(payload.callDetails.callId);
    assert.ok((entry?.durationMs ?? 0) >= 1_400, `answered after ${entry?.durationMs} ms`);
    await assertCrmSide(c.admin, [payload], { maxPostsPerCall: 1 });
    await assertOutboxSettled(c.h.store, { delivered: 1 });
    await assertStillDelivers(c, 181);
  });

  test('the local CRM refuses a bad strange-answer rule, naming the field', async (t) => {
    const c = await openCase(t);
    const bad: FaultsUpdate = { strangeAnswer: { kind: 'teapot' as 'html' } };
    await assert.rejects(c.admin.faults(bad), /strangeAnswer\.kind must be one of html, redirect, invalid-json, endless-body/);
  });
});

test('crm-upload local-crm --strange-answer switches the fault on from the start; a bad one exits 2', async (t) => {
  const crm = await spawnLocalCrmProcess(['--strange-answer', 'html:1', '--strange-answer', 'endless-body:2@upload']);
  t.after(() => crm.stop());
  const state = await crmAdmin(crm.url).faults({});
  assert.deepEqual(state.strangeAnswer, [{ kind: 'html', count: 1 }, { kind: 'endless-body', count: 2, on: 'upload' }]);
  const bad = spawnSync(process.execPath, [CLI_MAIN, 'local-crm', '--port', '0', '--strange-answer', 'teapot'], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, CRM_LOG_FORMAT: 'text' } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--strange-answer.kind must be one of html, redirect, invalid-json, endless-body, got "teapot"/);
});

/** An HTTP server on another loopback host (127.0.0.2) that counts what reaches it. */
async function listenElsewhere(t: TestContext): Promise<{ url: string; requests: () => number }> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    req.resume();
    res.writeHead(201, { 'content-type': 'application/json' }).end('{"success":true}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.2', () => resolve());
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.2:${(server.address() as AddressInfo).port}`, requests: () => count };
}
