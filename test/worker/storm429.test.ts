/**
 * 429 storm: the CRM answers every request 429 with Retry-After for a while. The waits are honoured —
 * by every delivery, not only the refused one: the pacer holds them all — they use up no attempt, and
 * everything is delivered once the storm is over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliverCalls } from '../../src/worker/worker.ts';
import { crmAdmin, spawnLocalCrmProcess } from '../helpers/local-crm.ts';
import { byCallId, items, setup, testConfig } from './harness.ts';

test('Retry-After is honoured, attempts are not used up, all delivered after the storm', { timeout: 30_000 }, async (t) => {
  // In its own process, as a real CRM is: its clock stamps each arrival when it happens, not when the
  // client's work on a shared event loop lets it run.
  // A minute to start: a loaded machine is slow to start a process.
  const crm = await spawnLocalCrmProcess(['--latency-ms', '5'], 60_000);
  // maxAttempts 1: if a rate-limited answer cost an attempt, every call would go dead at once. A long
  // request timeout, so that a slow answer on a loaded machine is not a timed-out attempt either.
  const config = testConfig({ concurrency: 8, maxAttempts: 1, retryScheduleMs: [20], timeoutMs: 30_000 });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.stop();
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
  // After a 429 with Retry-After: 1, nothing new is sent for a second, by any call: the only requests that
  // arrive after it within that second are those already in flight when it was answered, at most one per
  // other slot. Counted, not timed: however late a loaded machine delivers them, they are no more (the
  // window's end keeps 50 ms for the two processes' clocks). Without the hold, all 24 calls would come.
  for (const r of limited) {
    const t = Date.parse(r.time);
    const inside = requests.filter((o) => o.seq > r.seq && Date.parse(o.time) < t + 1_000 - 50);
    assert.ok(inside.length <= config.concurrency - 1, `${inside.length} requests inside the Retry-After of the 429 at ${r.time}: ${inside.map((o) => `${o.callId} at +${Date.parse(o.time) - t} ms`).join(', ')}`);
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
