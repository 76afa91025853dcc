/**
 * Verify before re-sending (docs/architecture.md, "Delivery" → "Verify before re-sending"): the pure
 * judgement of the CRM's listing, then real workers against the local CRM made to ignore
 * Idempotency-Key and to lose answers: the exact requests it received (POSTs and GETs) and the records
 * it holds; a conflict dead-lettered and not overwritten; nothing asked when nothing is uncertain; a
 * listing not offered (404) said once and fallen back from; `never` shows what the check prevents; a
 * stop() mid-POST releases the item uncertain and the next run asks first.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CrmResult } from '../../src/crm/crm-client.ts';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { createLogger } from '../../src/log/logger.ts';
import { crmPayload, payloadHash } from '../../src/reconcile/payload-hash.ts';
import { judgeListing } from '../../src/worker/verify-step.ts';
import { startWorker, type WorkerConfig } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { items, setup, testConfig } from './harness.ts';

const ok = (body: unknown, status = 200): CrmResult => ({ kind: 'response', status, headers: {}, body, durationMs: 1 });

describe('judgeListing', () => {
  const payload = makePayload(1);
  const id = payload.callDetails.callId;
  const stored = { _id: 'x', createdAt: '2025-11-01T00:00:00Z', ...payload };
  const other = makePayload(1, { client: 'someone-else' });
  const rows: [string, CrmResult, string][] = [
    ['no record', ok({ success: true, data: [] }), 'absent'],
    ['the same content (the CRM’s own fields aside)', ok({ data: [stored] }), 'present-same'],
    ['two copies, one the same', ok({ data: [other, stored] }), 'present-same'],
    ['different content', ok({ data: [other] }), 'present-different'],
    ['a record of another call: the filter is ignored', ok({ data: [makePayload(2)] }), 'unverified'],
    ['404: not offered', ok({ message: 'not found' }, 404), 'unverified'],
    ['405: not offered', ok({}, 405), 'unverified'],
    ['503', ok({}, 503), 'unverified'],
    ['200 without a data array', ok({ success: true }), 'unverified'],
    ['a timeout', { kind: 'error', error: 'timeout', message: 'no answer', durationMs: 1, requestSent: true }, 'unverified'],
  ];
  for (const [name, result, kind] of rows) {
    test(`${name} → ${kind}`, () => assert.equal(judgeListing(result, id, payload).kind, kind));
  }
  test('notOffered only when the listing never will answer', () => {
    const notOffered = (r: CrmResult): boolean | null => {
      const v = judgeListing(r, id, payload);
      return v.kind === 'unverified' ? v.notOffered : null;
    };
    assert.deepEqual([ok({}, 404), ok({}, 405), ok({ data: [makePayload(2)] }), ok({}, 503)].map(notOffered), [true, true, true, false]);
  });
  test('a conflict carries both hashes', () => {
    const v = judgeListing(ok({ data: [other] }), id, payload);
    assert.deepEqual(v, { kind: 'present-different', copies: 1, ours: payloadHash(payload), theirs: payloadHash(crmPayload(other as unknown as Record<string, unknown>)) });
  });
});

/** Requests the local CRM received: call-data POSTs and GETs, and the records of each callId it holds. */
async function seen(crm: LocalCrm): Promise<{ posts: number; gets: number; records: number; duplicates: number }> {
  const admin = crmAdmin(crm.url);
  const requests = await admin.requests();
  const dups = (await (await fetch(`${crm.url}/__admin/duplicates`)).json()) as unknown[];
  return {
    posts: requests.filter((r) => r.method === 'POST' && r.path.endsWith('/call-data')).length,
    gets: requests.filter((r) => r.method === 'GET' && r.path.endsWith('/call-data')).length,
    records: (await admin.calls()).length,
    duplicates: dups.length,
  };
}

function config(over: Partial<WorkerConfig> = {}): WorkerConfig {
  return testConfig({ retryScheduleMs: [10, 20, 40], maxAttempts: 4, ...over });
}

describe('the worker asks before re-sending', () => {
  test('every answer lost, against a CRM that ignores the key: one POST and one listing per call, each stored once', { timeout: 30_000 }, async (t) => {
    const crm = await startTestCrm({ ignoreIdempotency: true, lostAnswerRate: 1 });
    const h = setup(crm.url, config());
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    const list = items(20);
    await h.store.enqueueMany(list);
    const summary = await startWorker({ store: h.store, client: h.client, config: config(), idleExit: true }).done;
    assert.equal(summary.delivered, 20);
    assert.deepEqual(await seen(crm), { posts: 20, gets: 20, records: 20, duplicates: 0 });
    const history = await h.store.history(list[0]?.callId ?? '');
    assert.deepEqual(
      history.map((e) => [e.step, e.attempt, e.outcome, e.uncertain]),
      [
        ['call-data', 1, 'retry', true],
        ['verify', 2, 'delivered', undefined],
      ],
    );
    assert.equal((await h.store.get(list[0]?.callId ?? ''))?.uncertain, false);
  });

  test('CRM_VERIFY_BEFORE_RESEND=never against the same CRM: each repeat is a duplicate (what the check prevents)', { timeout: 30_000 }, async (t) => {
    const crm = await startTestCrm({ ignoreIdempotency: true, lostAnswerRate: 1 });
    const h = setup(crm.url, config());
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    await h.store.enqueueMany(items(3));
    const summary = await startWorker({ store: h.store, client: h.client, config: config({ verifyBeforeResend: 'never' }), idleExit: true }).done;
    assert.equal(summary.dead, 3, 'every answer lost: the attempts run out');
    assert.deepEqual(await seen(crm), { posts: 12, gets: 0, records: 12, duplicates: 3 });
  });

  test('the CRM holds the callId with other content: dead with the reason, no POST, its record untouched', { timeout: 30_000 }, async (t) => {
    const crm = await startTestCrm({ ignoreIdempotency: true, lostAnswerRate: 1 });
    const h = setup(crm.url, config());
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    const [item] = items(1, 40);
    assert.ok(item);
    await h.store.enqueue(item);
    // An attempt whose answer was lost, while someone else put other content under the same callId.
    await h.store.lease({ limit: 1, leaseMs: 5_000, owner: 'earlier' });
    await h.store.settle('earlier', [{ callId: item.callId, kind: 'retry', nextAttemptAt: Date.now(), status: null, error: 'timeout', uncertain: true }]);
    const theirs = makePayload(40, { client: 'edited-in-the-crm' });
    await crmAdmin(crm.url).insertCall(theirs);

    const summary = await startWorker({ store: h.store, client: h.client, config: config(), idleExit: true }).done;
    assert.equal(summary.dead, 1);
    const dead = await h.store.get(item.callId);
    assert.equal(dead?.state, 'dead');
    assert.match(dead?.lastError ?? '', /^conflict: the CRM already holds a call with this callId and different content \(sha256 [0-9a-f]{12}…, ours [0-9a-f]{12}…\)/);
    assert.equal(dead?.attempts, 1, 'the check is not a sending attempt');
    assert.deepEqual(await seen(crm), { posts: 0, gets: 1, records: 1, duplicates: 0 });
    assert.deepEqual(await crmAdmin(crm.url).calls(), [theirs]);
  });

  test('uncertain and absent: one listing, then the POST; certain failures (503) are re-sent without asking', { timeout: 30_000 }, async (t) => {
    const crm = await startTestCrm();
    const h = setup(crm.url, config());
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    const [a, b] = items(2, 50);
    assert.ok(a && b);
    await h.store.enqueueMany([a, b]);
    await h.store.lease({ limit: 2, leaseMs: 5_000, owner: 'earlier' });
    await h.store.settle('earlier', [{ callId: a.callId, kind: 'retry', nextAttemptAt: Date.now(), status: null, error: 'timeout', uncertain: true }]);
    await h.store.settle('earlier', [{ callId: b.callId, kind: 'retry', nextAttemptAt: Date.now(), status: 503, error: 'HTTP 503', uncertain: false }]);
    // b's next POST is answered 503 once more: still certain, so still no listing.
    await crmAdmin(crm.url).faults({ forceStatus: { status: 503, count: 1, callId: b.callId } });

    await startWorker({ store: h.store, client: h.client, config: config(), idleExit: true }).done;
    const requests = (await crmAdmin(crm.url).requests()).filter((r) => r.path.endsWith('/call-data'));
    const forA = requests.filter((r) => r.callId === a.callId || r.query.includes(encodeURIComponent(a.callId)));
    const forB = requests.filter((r) => r.callId === b.callId || r.query.includes(encodeURIComponent(b.callId)));
    assert.deepEqual(forA.map((r) => [r.method, r.status]), [['GET', 200], ['POST', 201]]);
    assert.deepEqual(forB.map((r) => [r.method, r.status]), [['POST', 503], ['POST', 201]]);
    assert.deepEqual((await h.store.history(a.callId)).map((e) => [e.step, e.outcome]), [['verify', 'absent'], ['call-data', 'delivered']]);
  });

  test('nothing uncertain: no listing at all (POSTs == calls, GETs == 0)', { timeout: 30_000 }, async (t) => {
    const crm = await startTestCrm({ ignoreIdempotency: true });
    const h = setup(crm.url, config());
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    await h.store.enqueueMany(items(30));
    await startWorker({ store: h.store, client: h.client, config: config({ verifyBeforeResend: 'always' }), idleExit: true }).done;
    assert.deepEqual(await seen(crm), { posts: 30, gets: 0, records: 30, duplicates: 0 });
  });

  test('stop() mid-POST releases the item uncertain; the next run asks first', { timeout: 30_000 }, async (t) => {
    const crm = await startTestCrm({ hangRate: 1 });
    const h = setup(crm.url, config({ timeoutMs: 5_000 }));
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    const [item] = items(1, 60);
    assert.ok(item);
    await h.store.enqueue(item);
    const worker = startWorker({ store: h.store, client: h.client, config: config({ timeoutMs: 5_000 }), graceMs: 50 });
    // The hung request is logged on arrival (a hang never reaches the call-data handler).
    while ((await crmAdmin(crm.url).stats()).requests === 0) await sleep(10);
    await worker.stop();
    assert.equal((await worker.done).released, 1);
    const released = await h.store.get(item.callId);
    assert.deepEqual([released?.state, released?.attempts, released?.uncertain], ['pending', 0, true]);

    await crmAdmin(crm.url).faults({ hangRate: 0 });
    await startWorker({ store: h.store, client: h.client, config: config(), idleExit: true }).done;
    const after = (await crmAdmin(crm.url).requests()).filter((r) => r.status !== null).map((r) => r.method);
    assert.deepEqual(after, ['GET', 'POST']);
    assert.equal((await h.store.get(item.callId))?.state, 'delivered');
  });
});

test('a listing that leaves less than a request timeout of the lease: no POST, due again at once, no attempt spent', { timeout: 30_000 }, async (t) => {
  // The listing answers 800 ms late; a lease of 2.5 s with a 2 s request timeout then has too little left.
  const crm = await startTestCrm({ latencyMs: 800 });
  const h = setup(crm.url, config({ timeoutMs: 2_000 }));
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const [item] = items(1, 80);
  assert.ok(item);
  await h.store.enqueue(item);
  await h.store.lease({ limit: 1, leaseMs: 5_000, owner: 'earlier' });
  await h.store.settle('earlier', [{ callId: item.callId, kind: 'retry', nextAttemptAt: Date.now(), status: null, error: 'timeout', uncertain: true }]);
  const [leased] = await h.store.lease({ limit: 1, leaseMs: 2_500, owner: 'w' });
  assert.ok(leased?.uncertain);
  const { deliverItem } = await import('../../src/worker/deliver-item.ts');
  const { ResendVerifier } = await import('../../src/worker/verify-step.ts');
  const { createPacer } = await import('../../src/pacing/pacer.ts');
  const { retryPolicy } = await import('../../src/policy/retry-policy.ts');
  const report = await deliverItem(leased, {
    store: h.store,
    client: h.client,
    pacer: createPacer(0),
    settings: { retryPolicy: retryPolicy({ scheduleMs: [10], maxAttempts: 4 }), recordingWaitMs: 0, timeoutMs: 2_000 },
    verifier: new ResendVerifier('auto', createLogger({ level: 'silent' })),
  });
  assert.equal(report.settlement.kind, 'wait');
  assert.match(report.settlement.kind === 'wait' ? report.settlement.error : '', /^not sent: \d+ ms of the lease left, less than a request timeout$/);
  assert.equal(report.settlement.uncertain, undefined, 'the flag is left as it was');
  assert.deepEqual(report.settlement.log?.map((e) => [e.step, e.outcome]), [['verify', 'absent']]);
  assert.deepEqual(await seen(crm), { posts: 0, gets: 1, records: 0, duplicates: 0 });
});

describe('a listing that is not offered', () => {
  /** A CRM whose POST creates (201) and whose GET call-data answers 404; counts both. */
  async function noListingCrm(): Promise<{ url: string; counts: { post: number; get: number }; close(): Promise<void> }> {
    const counts = { post: 0, get: 0 };
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST') counts.post++;
        else counts.get++;
        res.writeHead(req.method === 'POST' ? 201 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ success: req.method === 'POST' }));
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, counts, close: () => new Promise<void>((done) => server.close(() => done())) };
  }

  for (const [mode, gets] of [['auto', 1], ['always', 3]] as const) {
    test(`${mode}: sent anyway, said once per worker; ${gets} listing${gets === 1 ? '' : 's'} for 3 uncertain calls`, { timeout: 30_000 }, async (t) => {
      const crm = await noListingCrm();
      const h = setup(crm.url, config({ concurrency: 1 }));
      const lines: string[] = [];
      const logger = createLogger({ level: 'warn', destination: new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }) });
      t.after(async () => {
        await h.close();
        await crm.close();
      });
      const list = items(3, 70);
      await h.store.enqueueMany(list);
      await h.store.lease({ limit: 3, leaseMs: 5_000, owner: 'earlier' });
      await h.store.settle('earlier', list.map((i) => ({ callId: i.callId, kind: 'retry' as const, nextAttemptAt: Date.now(), status: null, error: 'timeout', uncertain: true })));
      const summary = await startWorker({ store: h.store, client: h.client, config: config({ concurrency: 1, verifyBeforeResend: mode }), logger, idleExit: true }).done;
      assert.equal(summary.delivered, 3);
      assert.deepEqual(crm.counts, { post: 3, get: gets });
      const warnings = lines.filter((l) => l.includes('cannot ask the CRM whether it already holds a call'));
      assert.equal(warnings.length, 1, lines.join(''));
      assert.match(warnings[0] ?? '', /does not offer GET call-data \(HTTP 404\)/);
    });
  }
});

test('the client asks the listing by callId (one GET with callId and a limit)', async (t) => {
  const crm = await startTestCrm();
  const client = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, timeoutMs: 2_000 });
  t.after(async () => {
    await client.close();
    await crm.close();
  });
  const { ResendVerifier } = await import('../../src/worker/verify-step.ts');
  const { createPacer } = await import('../../src/pacing/pacer.ts');
  const verifier = new ResendVerifier('auto', createLogger({ level: 'silent' }));
  const payload = makePayload(90);
  const check = await verifier.check(payload.callDetails.callId, payload, { client, pacer: createPacer(0) });
  assert.equal(check.verdict.kind, 'absent');
  const [req] = await crmAdmin(crm.url).requests();
  assert.equal(req?.method, 'GET');
  assert.equal(new URLSearchParams(req?.query).get('callId'), payload.callDetails.callId);
  assert.ok(Number(new URLSearchParams(req?.query).get('limit')) >= 10);
});
