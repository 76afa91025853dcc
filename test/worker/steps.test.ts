/**
 * The worker's named steps, one at a time (docs/architecture.md, "Worker steps"): `lease` takes what
 * there is room for and starts it, deliveries gather their outcomes without committing them, the next
 * `lease` writes them in its transaction; `settle` holds the pacer on a 429 only; `sleep` ends a `once`
 * worker when nothing is due.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutboxItem } from '../../src/outbox/outbox-store.ts';
import { UNPACED, type Pacer } from '../../src/pacing/pacer.ts';
import { DeliveryWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { items, setup, testConfig } from './harness.ts';

test('lease → deliver → the next lease commits: outcomes ride along with the lease', async (t) => {
  const crm = await startTestCrm();
  const config = testConfig({ concurrency: 1 });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const list = items(3);
  await h.store.enqueueMany(list);
  const worker = new DeliveryWorker({ store: h.store, client: h.client, config, owner: 'steps-1' });

  assert.equal(await worker.lease(), 3, 'room for 1 slot + 5 prefetched: all three leased in one go');
  assert.equal(worker.inFlight.length, 1, 'one slot: one delivery started');
  assert.equal(worker.buffered.length, 2, 'the other two wait in the buffer');
  assert.equal((await h.store.counts()).in_flight, 3);

  // Each finished delivery starts the next buffered item; the outcomes are gathered, not written.
  await waitFor('three deliveries', async () => worker.summary.delivered === 3);
  for (const { callId } of list) assert.equal((await h.store.get(callId))?.state, 'in_flight', `${callId}: not committed yet`);

  assert.equal(await worker.lease(), 0, 'nothing more is due');
  for (const { callId } of list) assert.equal((await h.store.get(callId))?.state, 'delivered', `${callId}: committed with the lease`);
  const posts = (await crmAdmin(crm.url).requests()).filter((r) => r.method === 'POST' && r.callId !== null);
  assert.deepEqual(posts.map((r) => r.callId).sort(), list.map((i) => i.callId).sort(), 'one POST per call');
  await worker.shutdown();
  assert.equal(worker.summary.released, 0);
});

test('settle holds the pacer for a 429 wait only (the one hold), and gathers every outcome', async (t) => {
  const crm = await startTestCrm();
  const config = testConfig();
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  await h.store.enqueueMany(items(3));
  const holds: number[] = [];
  const pacer: Pacer = { ...UNPACED, holdFor: (ms) => void holds.push(ms) };
  const worker = new DeliveryWorker({ store: h.store, client: h.client, config, pacer, owner: 'steps-2' });
  const leased: OutboxItem[] = await h.store.lease({ limit: 3, leaseMs: 60_000, owner: 'steps-2' });
  const [a, b, c] = leased;
  assert.ok(a && b && c);
  const now = Date.now();
  worker.settle({ callId: a.callId, kind: 'wait', nextAttemptAt: now + 5_000, status: 429, error: 'Too many' }, a);
  worker.settle({ callId: b.callId, kind: 'wait', nextAttemptAt: now + 5_000, status: 503, error: 'Unavailable' }, b);
  worker.settle({ callId: c.callId, kind: 'retry', nextAttemptAt: now + 5_000, status: 500, error: 'Oops' }, c);
  assert.equal(holds.length, 1, 'only the 429 holds every request');
  assert.ok((holds[0] ?? 0) > 4_000 && (holds[0] ?? 0) <= 5_000, `held for the Retry-After: ${holds[0]}`);

  await worker.lease();
  assert.deepEqual(
    [(await h.store.get(a.callId))?.rateLimitWaits, (await h.store.get(b.callId))?.rateLimitWaits, (await h.store.get(c.callId))?.attempts],
    [1, 1, 1],
    'the three outcomes were written by the lease',
  );
  await worker.shutdown();
});

test('sleep ends a `once` worker when nothing is due, and keeps an idleExit worker while its calls are pending', async (t) => {
  const crm = await startTestCrm();
  const config = testConfig();
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const once = new DeliveryWorker({ store: h.store, client: h.client, config, once: true });
  assert.equal(await once.sleep(), false, 'once, with nothing due: finished');

  const [item] = items(1);
  assert.ok(item);
  await h.store.enqueue(item);
  const waiting = new DeliveryWorker({ store: h.store, client: h.client, config, idleExit: true, callIds: [item.callId] });
  assert.equal(await waiting.sleep(), true, 'its call is still pending: not finished');
  const summary = await waiting.run();
  assert.equal(summary.delivered, 1);
  assert.equal(await waiting.sleep(), false, 'its call is delivered: finished');
});
