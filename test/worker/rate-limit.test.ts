/**
 * Rate limit: with CRM_RATE_LIMIT set and the local CRM enforcing the same limit (a sliding window of
 * 4 s, so 40 requests per 4 s at 600/min), the pacer keeps every request inside it: zero 429s. The
 * window is 4 s rather than 1 s so that the pacer's headroom (2% of the window: 80 ms) exceeds the
 * arrival jitter of a loaded 2-core test machine, as it exceeds a network's for a per-minute window. The
 * CRM runs in its own process, as a real one does: in this process its clock would stamp a request
 * only once the client's own work on the shared event loop let it run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { deliverCalls } from '../../src/worker/worker.ts';
import { crmAdmin, spawnLocalCrmProcess } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { items, setup, testConfig } from './harness.ts';

const LIMIT = 600;

test('the pacer keeps to the CRM limit: zero 429s', { timeout: 30_000 }, async (t) => {
  const crm = await spawnLocalCrmProcess(['--rate-limit-per-min', String(LIMIT), '--rate-limit-window-ms', '4000']);
  const callDataUrl = `${crm.url}/apis/api/public/call-data`;
  const config = testConfig({ rateLimit: LIMIT, concurrency: 16 });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.stop();
  });
  const admin = crmAdmin(crm.url);

  // The limit is real: the same CRM refuses an unpaced burst.
  const burst = createHttpCrmClient({ apiUrl: callDataUrl, uploadUrl: `${crm.url}/apis/api/public/upload`, timeoutMs: 2_000 });
  const answers = await Promise.all(
    Array.from({ length: 45 }, (_, i) => burst.postCallData(makePayload(1_000 + i), { idempotencyKey: `burst-${i}` })),
  );
  await burst.close();
  assert.ok(answers.some((r) => r.kind === 'response' && r.status === 429), 'the local CRM did not enforce its limit');
  // Forget the burst (reset also empties the rate-limit window) before the paced run.
  await admin.reset();

  const list = items(45);
  await h.store.enqueueMany(list);
  const started = Date.now();
  const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: list.map((i) => i.callId), maxWaitMs: 20_000 });
  const elapsed = Date.now() - started;
  assert.equal(summary.delivered, list.length);
  const stats = await admin.stats();
  assert.equal(stats.rateLimited, 0, `${stats.rateLimited} requests were rate-limited`);
  assert.equal(stats.requests, list.length);
  // 45 requests one every 102 ms take at least 4.4 s: the pacer, not luck, kept the window.
  assert.ok(elapsed >= 44 * 100, `${elapsed} ms`);
  // Counted from the CRM's own log: no 4 s window held more than the limit allows in it (40).
  const times = (await admin.requests()).map((r) => Date.parse(r.time)).sort((a, b) => a - b);
  assert.equal(times.length, list.length);
  assert.ok(densest(times, 4_000) <= 40, `${densest(times, 4_000)} requests within 4 s`);
});

/** Most of the sorted `times` (ms) inside any half-open window of `windowMs`. */
function densest(times: readonly number[], windowMs: number): number {
  let best = 0;
  for (let from = 0, to = 0; to < times.length; to++) {
    while ((times[to] ?? 0) - (times[from] ?? 0) >= windowMs) from++;
    best = Math.max(best, to - from + 1);
  }
  return best;
}

// A CRM answering in 600 ms at 1200/min (a slot every 51 ms) needs about 12 requests in flight to use its
// limit. Each request is held 600 ms, so requests that arrived within 600 ms of one another were in
// flight together: the densest 600 ms of the CRM's log counts the requests in flight at once.
for (const allowed of [undefined, 16]) {
  test(`a slow CRM: ${allowed === undefined ? 'never more in flight than CRM_CONCURRENCY by default' : 'more in flight than CRM_CONCURRENCY when CRM_MAX_CONCURRENCY allows, never more than it'}`, { timeout: 60_000 }, async (t) => {
    const crm = await spawnLocalCrmProcess(['--latency-ms', '600', '--rate-limit-per-min', '1200', '--rate-limit-window-ms', '4000']);
    const config = testConfig({ rateLimit: 1200, concurrency: 3, ...(allowed === undefined ? {} : { maxConcurrency: allowed }), timeoutMs: 5_000 });
    const h = setup(crm.url, config);
    t.after(async () => {
      await h.close();
      await crm.stop();
    });
    const list = items(40, 5_000);
    await h.store.enqueueMany(list);
    const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: list.map((i) => i.callId), maxWaitMs: 45_000 });
    assert.equal(summary.delivered, list.length);
    const admin = crmAdmin(crm.url);
    assert.equal((await admin.stats()).rateLimited, 0);
    const times = (await admin.requests()).map((r) => Date.parse(r.time)).sort((a, b) => a - b);
    assert.equal(times.length, list.length);
    const together = densest(times, 600);
    if (allowed === undefined) assert.ok(together <= 3, `${together} requests in flight at once`);
    else assert.ok(together > 3 && together <= allowed, `${together} requests in flight at once`);
  });
}
