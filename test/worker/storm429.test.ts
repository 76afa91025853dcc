/**
 * 429 storm: the CRM answers every request 429 with Retry-After for a while. The waits are honoured,
 * they use up no attempt, and everything is delivered once the storm is over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliverCalls } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { byCallId, items, setup, testConfig } from './harness.ts';

test('Retry-After is honoured, attempts are not used up, all delivered after the storm', { timeout: 30_000 }, async (t) => {
  const crm = await startTestCrm({ latencyMs: 5 });
  // maxAttempts 1: if a rate-limited answer cost an attempt, every call would go dead at once.
  const config = testConfig({ concurrency: 8, maxAttempts: 1, retryScheduleMs: [20] });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const admin = crmAdmin(crm.url);
  await admin.faults({ storm429: { forMs: 1_500, retryAfterS: 1 } });
  const list = items(24);
  await h.store.enqueueMany(list);

  const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: list.map((i) => i.callId), maxWaitMs: 20_000 });
  assert.equal(summary.delivered, list.length, JSON.stringify({ ...summary, perCall: undefined }));
  assert.equal(summary.dead, 0);

  const requests = await admin.requests();
  const limited = requests.filter((r) => r.status === 429);
  assert.ok(limited.length >= list.length, `only ${limited.length} 429s`);
  for (const [callId, records] of byCallId(requests)) {
    records.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < records.length; i++) {
      const prev = records[i - 1];
      const cur = records[i];
      if (prev?.status !== 429 || cur === undefined) continue;
      const gap = Date.parse(cur.time) - Date.parse(prev.time);
      // Request times are stamped on arrival; the 429 went out within the same millisecond or two.
      assert.ok(gap >= 1_000 - 5, `${callId}: next request ${gap} ms after a 429 with Retry-After: 1`);
    }
    assert.equal(records.at(-1)?.status, 201, `${callId} ended with ${records.at(-1)?.status}`);
  }
  for (const item of summary.perCall.values()) {
    assert.equal(item.attempts, 1, `${item.callId}: ${item.attempts} attempts`);
    assert.ok(item.rateLimitWaits >= 1, `${item.callId}: ${item.rateLimitWaits} waits`);
  }
});
