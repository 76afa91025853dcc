/**
 * The worker loop: `once`, batching of outcomes, `onSettled`, the attempt log line, and `deliverCalls`
 * taking over the expired lease of a crashed process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { Settlement } from '../../src/outbox/outbox-store.ts';
import { deliverCalls, startWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { items, setup, testConfig } from './harness.ts';

test('once: delivers what is due, logs one masked line per attempt, never the API key', async (t) => {
  const crm = await startTestCrm({ latencyMs: 5 });
  const config = testConfig({ retryScheduleMs: [60_000] });
  const h = setup(crm.url, config);
  const apiKey = 'sk-live-SECRET-0123456789';
  const client = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, apiKey, timeoutMs: 2_000 });
  t.after(async () => {
    await client.close();
    await h.close();
    await crm.close();
  });
  const list = items(30);
  await h.store.enqueueMany(list);
  const failing = list[0]?.callId ?? '';
  await crmAdmin(crm.url).faults({ forceStatus: { status: 500, callId: failing } });

  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const settled: Settlement[] = [];
  const summary = await startWorker({ store: h.store, client, config, logger, once: true, onSettled: (s) => settled.push(s) }).done;

  assert.equal(summary.delivered, 29);
  assert.equal(summary.retried, 1, 'the failing call is retried later, not now');
  assert.equal(settled.length, 30);
  const counts = await h.store.counts();
  assert.equal(counts.delivered, 29);
  assert.equal(counts.pending, 1);
  assert.ok((counts.nextAttemptAt ?? 0) > Date.now() + 40_000);

  const text = lines.join('');
  assert.ok(!text.includes(apiKey) && !text.includes('SECRET'), 'the API key leaked into the logs');
  assert.ok(!text.includes('+9199999'), 'an unmasked phone number');
  const attempts = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'attempt');
  assert.equal(attempts.length, 30);
  const failed = attempts.find((l) => l.callId === failing);
  assert.deepEqual(
    { attempt: failed?.attempt, status: failed?.status, outcome: failed?.outcome, hasDuration: typeof failed?.durationMs === 'number' },
    { attempt: 1, status: 500, outcome: 'retry', hasDuration: true },
  );
});

test('deliverCalls takes over the lease a crashed process left, once it expires', async (t) => {
  const crm = await startTestCrm();
  const config = testConfig({ timeoutMs: 300 }); // lease 1 s
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const list = items(5);
  await h.store.enqueueMany(list);
  // A "crashed" owner holds two of them. Timed from before the lease: a slow machine may take a while
  // between the lease and the next line, and the lease ends 600 ms after it was taken, not after that.
  const started = Date.now();
  await h.store.lease({ limit: 2, leaseMs: 600, owner: 'crashed' });

  const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: list.map((i) => i.callId), maxWaitMs: 5_000 });
  assert.equal(summary.delivered, 5);
  assert.equal(summary.pending, 0);
  assert.ok(Date.now() - started >= 550, 'it waited for the lease to expire');
  assert.equal((await crmAdmin(crm.url).stats()).created, 5);
});

test('deliverCalls gives up after maxWaitMs and reports the rest as pending', async (t) => {
  const crm = await startTestCrm();
  const config = testConfig({ retryScheduleMs: [10_000] });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const list = items(3);
  await h.store.enqueueMany(list);
  await crmAdmin(crm.url).faults({ forceStatus: { status: 503, callId: list[2]?.callId } });
  const summary = await deliverCalls({ store: h.store, client: h.client, config, callIds: list.map((i) => i.callId), maxWaitMs: 400 });
  // It gave up before the failing call's retry (10 s later): that call was POSTed once.
  assert.equal((await crmAdmin(crm.url).requests()).filter((q) => q.callId === list[2]?.callId).length, 1);
  assert.deepEqual({ delivered: summary.delivered, dead: summary.dead, pending: summary.pending }, { delivered: 2, dead: 0, pending: 1 });
  assert.equal(summary.perCall.get(list[2]?.callId ?? '')?.state, 'pending');
});
