/**
 * reconcile on each backend, against the local CRM: calls delivered by a real worker (one with its
 * recording), then deleted from, added to and altered in the CRM behind the tool's back through its
 * admin routes; the exact three lists, the range and id filters, paging (the exact GET requests), and
 * `requeue` followed by a worker sending the missing calls again. Then the paging rules against a CRM
 * that answers `has_more` (snake case) or no flag at all, and the canonical hash.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { canonicalJson, crmPayload, payloadHash } from '../../src/reconcile/payload-hash.ts';
import { listCrmCalls, reconcile, reconciled } from '../../src/reconcile/reconcile.ts';
import { startWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { RECORDING_FIXTURE } from '../worker/harness.ts';
import { BACKENDS, crmClient, deliverOnce, fastConfig, testItem } from '../dashboard/fixture.ts';

const startOf = (i: number): string => makePayload(i).callDetails.startTime;
const idOf = (i: number): string => makePayload(i).callDetails.callId;

for (const backend of BACKENDS) {
  describe(`reconcile (${backend.name})`, { skip: backend.skip }, () => {
    test('missing, unknown and altered calls; range, ids, paging; --requeue sends the missing again', { timeout: 30_000 }, async (t) => {
      const crm = await startTestCrm();
      const outbox = await backend.open();
      const client = crmClient(crm);
      const admin = crmAdmin(crm.url);
      t.after(async () => {
        await client.close();
        await outbox.cleanup();
        await crm.close();
      });
      const { store } = outbox;
      // Calls 600…607 start at 10:10:00…10:10:07 UTC on 2025-10-29; 600 has a recording.
      const items = [testItem(600, { recordingPath: RECORDING_FIXTURE }), ...[1, 2, 3, 4, 5, 6, 7].map((k) => testItem(600 + k))];
      await store.enqueueMany(items);
      const first = await startWorker({ store, client, config: fastConfig(), idleExit: true }).done;
      assert.equal(first.delivered, 8);
      // 608 goes dead here, but someone else puts it into the CRM.
      await store.enqueue(testItem(608));
      await deliverOnce(store, crm, { dead: [idOf(608)] });
      assert.equal((await store.get(idOf(608)))?.state, 'dead');

      const listsBefore = (await admin.stats()).listRequests;
      const clean = await reconcile({ store, client, since: null, until: null, pageSize: 3 });
      assert.deepEqual(
        { ...clean },
        { since: null, until: null, campaignId: null, voiceAgentId: null, outbox: 8, crm: 8, matched: 8, missingInCrm: [], unknownHere: [], hashMismatch: [], duplicates: [], requeued: 0, crmPages: 3 },
      );
      assert.equal(reconciled(clean), true);
      assert.equal((await admin.stats()).listRequests - listsBefore, 3, '8 calls in pages of 3: three GETs, the last one short with hasMore false');
      const withRecording = (await admin.calls()).find((p) => p.callDetails.callId === idOf(600));
      assert.match(withRecording?.callDetails.recordingUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/apis\/uploads\/recordings\//, 'the hash covered the recording fields the worker added');

      // Behind the tool's back.
      assert.equal(await admin.deleteCall(idOf(601)), true);
      assert.equal(await admin.deleteCall(idOf(604)), true);
      await admin.insertCall(makePayload(650));
      await admin.insertCall(makePayload(651, { campaignId: 'camp-other' }));
      await admin.insertCall(makePayload(608));
      const altered = makePayload(607, { callDetails: { duration: 41 } });
      await admin.insertCall(altered);

      const report = await reconcile({ store, client, since: null, until: null, pageSize: 3 });
      const sentHash = payloadHash(makePayload(607));
      assert.deepEqual(
        { ...report },
        {
          since: null,
          until: null,
          campaignId: null,
          voiceAgentId: null,
          outbox: 8,
          crm: 9,
          matched: 5,
          missingInCrm: [
            { callId: idOf(601), startTime: startOf(601) },
            { callId: idOf(604), startTime: startOf(604) },
          ],
          unknownHere: [
            { callId: idOf(608), startTime: startOf(608), state: 'dead' },
            { callId: idOf(650), startTime: startOf(650), state: null },
            { callId: idOf(651), startTime: startOf(651), state: null },
          ],
          hashMismatch: [{ callId: idOf(607), startTime: startOf(607), outboxHash: sentHash, crmHash: payloadHash(altered) }],
          duplicates: [],
          requeued: 0,
          crmPages: 3,
        },
      );
      assert.notEqual(sentHash, payloadHash(altered));

      // The same range on both sides: 602…605 only.
      const ranged = await reconcile({ store, client, since: Date.parse(startOf(602)), until: Date.parse(startOf(605)) });
      assert.deepEqual(
        { outbox: ranged.outbox, crm: ranged.crm, matched: ranged.matched, missing: ranged.missingInCrm.map((m) => m.callId), unknown: ranged.unknownHere, mismatch: ranged.hashMismatch },
        { outbox: 4, crm: 3, matched: 3, missing: [idOf(604)], unknown: [], mismatch: [] },
      );
      assert.equal(ranged.since, startOf(602));

      // The campaign filter applies to both sides: the other campaign's call is out of the comparison.
      const filtered = await reconcile({ store, client, since: null, until: null, campaignId: 'camp-test', voiceAgentId: 'agent-test' });
      assert.deepEqual(filtered.unknownHere.map((u) => u.callId), [idOf(608), idOf(650)]);
      const other = await reconcile({ store, client, since: null, until: null, campaignId: 'camp-other' });
      assert.deepEqual({ outbox: other.outbox, crm: other.crm, unknown: other.unknownHere.map((u) => u.callId) }, { outbox: 0, crm: 1, unknown: [idOf(651)] });

      // --requeue: the two missing calls back to pending; a worker sends them once more.
      const requeued = await reconcile({ store, client, since: null, until: null, requeue: true });
      assert.equal(requeued.requeued, 2);
      assert.deepEqual(Object.fromEntries(await store.states([idOf(601), idOf(604), idOf(602)])), { [idOf(601)]: 'pending', [idOf(604)]: 'pending', [idOf(602)]: 'delivered' });
      const seq = (await admin.requests()).length;
      const again = await startWorker({ store, client, config: fastConfig(), idleExit: true }).done;
      assert.equal(again.delivered, 2);
      const resent = (await admin.requests(seq)).filter((r) => r.method === 'POST');
      assert.deepEqual(resent.map((r) => [r.callId, r.status]).sort(), [
        [idOf(601), 201],
        [idOf(604), 201],
      ]);

      const after = await reconcile({ store, client, since: null, until: null });
      assert.deepEqual({ missing: after.missingInCrm, unknown: after.unknownHere.length, mismatch: after.hashMismatch.length, matched: after.matched }, { missing: [], unknown: 3, mismatch: 1, matched: 7 });
      assert.equal(reconciled(after), false);
    });
  });
}

describe('paging against other CRM answers', () => {
  /** A CRM listing 7 calls that answers in the given style, recording the (limit, offset) of each GET. */
  async function pagedCrm(style: 'has_more' | 'none' | 'capped'): Promise<{ url: string; asked: [number, number][]; close(): Promise<void> }> {
    const all = [0, 1, 2, 3, 4, 5, 6].map((i) => ({ _id: `x${i}`, createdAt: '2025-11-01T00:00:00Z', ...makePayload(400 + i) }));
    const asked: [number, number][] = [];
    const server = createServer((req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const limit = Number(q.get('limit'));
      const offset = Number(q.get('offset'));
      asked.push([limit, offset]);
      // "capped": the server gives at most 2 per page whatever was asked, and says hasMore.
      const size = style === 'capped' ? Math.min(limit, 2) : limit;
      const data = all.slice(offset, offset + size);
      const more = offset + data.length < all.length;
      const pagination = style === 'has_more' ? { total: all.length, has_more: more } : style === 'capped' ? { total: all.length, limit: size, hasMore: more } : { total: all.length };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: true, data, pagination }));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/apis/api/public/call-data`;
    return { url, asked, close: () => new Promise<void>((done) => server.close(() => done())) };
  }

  for (const [style, expected] of [
    ['has_more', [[3, 0], [3, 3], [3, 6]]],
    ['none', [[3, 0], [3, 3], [3, 6]]],
    ['capped', [[3, 0], [3, 2], [3, 4], [3, 6]]],
  ] as const) {
    test(`${style}: every call read, the exact pages asked for`, async (t) => {
      const crm = await pagedCrm(style);
      const client = createHttpCrmClient({ apiUrl: crm.url, uploadUrl: crm.url, timeoutMs: 2_000 });
      t.after(async () => {
        await client.close();
        await crm.close();
      });
      const listing = await listCrmCalls(client, { pageSize: 3 });
      assert.equal(listing.records.size, 7);
      assert.deepEqual(crm.asked, expected);
      assert.equal(listing.pages, expected.length);
      // The CRM's own fields (_id, createdAt) are not part of the hash.
      const rec = listing.records.get(idOf(400));
      assert.ok(rec !== undefined && rec._id === 'x0');
      assert.equal(payloadHash(crmPayload(rec)), payloadHash(makePayload(400)));
    });
  }
});

test('records a CRM holds more than once are counted across pages (the first one is compared)', async (t) => {
  const crm = await startTestCrm({ ignoreIdempotency: true });
  const client = crmClient(crm);
  t.after(async () => {
    await client.close();
    await crm.close();
  });
  const send = async (i: number, client2: string): Promise<void> => {
    const res = await fetch(crm.callDataUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(makePayload(i, { client: client2 })) });
    assert.equal(res.status, 201);
  };
  await send(700, 'first');
  await send(701, 'first');
  await send(700, 'second');
  await send(700, 'third');
  const listing = await listCrmCalls(client, { pageSize: 2 });
  assert.deepEqual([...listing.counts], [[idOf(700), 3], [idOf(701), 1]]);
  assert.equal(listing.pages, 2);
  assert.equal(listing.records.get(idOf(700))?.client, 'first');
});

test('the payload hash: canonical JSON with sorted keys at every level, arrays in order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, u: undefined }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  const p = makePayload(1);
  const reordered = JSON.parse(JSON.stringify({ lead: p.lead, transcription: p.transcription, caller: p.caller, callDetails: p.callDetails, client: p.client, voiceAgentId: p.voiceAgentId, campaignId: p.campaignId })) as unknown;
  assert.equal(payloadHash(reordered), payloadHash(p));
  assert.match(payloadHash(p), /^[0-9a-f]{64}$/);
  const items = (p.transcription as { conversation_items: unknown[] }).conversation_items;
  const swapped = { ...p, transcription: { ...p.transcription, conversation_items: [...items].reverse() } };
  assert.notEqual(payloadHash(swapped), payloadHash(p), 'the order of the conversation matters');
});

test('reconcile: the CRM unreachable or refusing is a ReconcileError (E_RECONCILE_CRM)', async () => {
  const client = createHttpCrmClient({ apiUrl: 'http://127.0.0.1:1/apis/api/public/call-data', uploadUrl: 'http://127.0.0.1:1/u', timeoutMs: 1_000 });
  try {
    await assert.rejects(listCrmCalls(client, { pageSize: 10 }), (err: unknown) => (err as { code?: string }).code === 'E_RECONCILE_CRM');
  } finally {
    await client.close();
  }
  const crm = await startTestCrm();
  const c2 = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, timeoutMs: 1_000 });
  try {
    await crmAdmin(crm.url).faults({ storm429: { forMs: 5_000 } });
    await assert.rejects(listCrmCalls(c2, { pageSize: 10 }), /the CRM answered 429 to GET call-data/);
  } finally {
    await c2.close();
    await crm.close();
  }
});
