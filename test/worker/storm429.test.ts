/**
 * 429 storm: the CRM answers every request 429 with Retry-After for a while. The waits are honoured —
 * by every delivery, not only the refused one: the pacer holds them all — they use up no attempt, and
 * everything is delivered once the storm is over.
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

  const requests = (await admin.requests()).sort((a, b) => a.seq - b.seq);
  const limited = requests.filter((r) => r.status === 429);
  assert.ok(limited.length >= 8, `only ${limited.length} 429s`);
  // After a 429 with Retry-After: 1, nothing is sent for a second — by any call. Requests that were past
  // the pacer when it came (the other slots' requests) still arrive within a few tens of ms of it.
  for (const r of limited) {
    const t = Date.parse(r.time);
    const tooSoon = requests.filter((o) => Date.parse(o.time) > t + 150 && Date.parse(o.time) < t + 1_000 - 5);
    assert.deepEqual(tooSoon.map((o) => `${o.callId} at +${Date.parse(o.time) - t} ms`), [], `requests inside the Retry-After of the 429 at ${r.time}`);
  }
  // Far fewer requests than one 429 per call per second: the hold spared the CRM the rest.
  assert.ok(limited.length <= 2 * config.concurrency, `${limited.length} 429s`);
  for (const [callId, records] of byCallId(requests)) {
    assert.equal(records.at(-1)?.status, 201, `${callId} ended with ${records.at(-1)?.status}`);
  }
  for (const item of summary.perCall.values()) assert.equal(item.attempts, 1, `${item.callId}: ${item.attempts} attempts`);
  const waited = [...summary.perCall.values()].filter((i) => i.rateLimitWaits >= 1).length;
  assert.ok(waited >= 8, `${waited} calls recorded a rate-limited wait`);
});
