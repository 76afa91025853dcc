/**
 * Faults: 30% 5xx, 5% hangs longer than the timeout, 5% connection resets and a short schedule. Every
 * call is delivered, and no call is ever sent under two different keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idempotencyKey } from '../../src/crm/idempotency.ts';
import { deliverCalls } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { byCallId, items, setup, testConfig } from './harness.ts';

test('5xx, hangs and resets: all delivered, each call under one key', { timeout: 30_000 }, async (t) => {
  const crm = await startTestCrm({ failRate: 0.3, hangRate: 0.05, resetRate: 0.05, latencyMs: 5, seed: 20251029 });
  const config = testConfig({ timeoutMs: 300, concurrency: 16, maxAttempts: 40, retryScheduleMs: [20, 50, 100] });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const list = items(120);
  await h.store.enqueueMany(list);

  const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: list.map((i) => i.callId), maxWaitMs: 25_000 });
  assert.equal(summary.delivered, list.length, JSON.stringify({ ...summary, perCall: undefined }));

  const admin = crmAdmin(crm.url);
  const stats = await admin.stats();
  // The faults really happened: otherwise this test proves nothing.
  assert.ok(stats.faults.fail > 0 && stats.faults.hang > 0 && stats.faults.reset > 0, JSON.stringify(stats.faults));
  assert.equal(stats.created, list.length);

  const calls = await admin.calls();
  assert.equal(new Set(calls.map((c) => c.callDetails.callId)).size, list.length);
  const posts = (await admin.requests()).filter((r) => r.method === 'POST');
  for (const [callId, records] of byCallId(posts)) {
    const keys = new Set(records.map((r) => r.idempotencyKey));
    assert.deepEqual([...keys], [idempotencyKey(callId, 'call-data')], callId);
  }
  // Retried items carry their failed attempts; a delivered item counts its final attempt too.
  const attempts = [...summary.perCall.values()].map((i) => i.attempts);
  assert.ok(attempts.every((a) => a >= 1) && attempts.some((a) => a > 1));
  t.diagnostic(`${posts.length} POSTs for ${list.length} calls; faults ${JSON.stringify(stats.faults)}`);
});
