/**
 * The worker purges by itself (docs/architecture.md, "Stores" → "Retention"): delivered calls past the
 * retention go in batches between leases while new calls are delivered; newer and dead calls stay; without a
 * retention nothing is purged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryWorker, startWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { items, setup, testConfig } from './harness.ts';

const DAY = 86_400_000;

test('a worker with a retention purges old deliveries in batches while it delivers, and nothing else', { timeout: 60_000 }, async (t) => {
  const crm = await startTestCrm();
  const config = testConfig();
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const old = items(7);
  const recent = items(2, 100);
  const [dead] = items(1, 200);
  const fresh = items(5, 300);
  assert.ok(dead);
  await h.store.enqueueMany([...old, ...recent, dead]);
  await h.store.lease({ limit: 10, leaseMs: 60_000, owner: 'seed' });
  const now = Date.now();
  await h.store.settle('seed', old.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201 })), now - 40 * DAY);
  await h.store.settle('seed', recent.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201 })), now - 20 * DAY);
  await h.store.settle('seed', [{ callId: dead.callId, kind: 'dead', status: 400, error: 'bad', countAttempt: true }], now - 90 * DAY);
  await h.store.enqueueMany(fresh);

  // Batches of 3: 3, 3, then 1; the next batch 50 ms after a full one.
  const worker = startWorker({ store: h.store, client: h.client, config, retention: { olderThanMs: 30 * DAY, uploadsDir: null, batchSize: 3, againMs: 50, everyMs: 60_000 } });
  t.after(() => worker.stop());
  await waitFor('the old deliveries purged and the new calls delivered', async () => {
    const c = await h.store.counts();
    return c.delivered === 2 + 5 && c.pending === 0 && c.in_flight === 0 && (await h.store.states(old.map((i) => i.callId))).size === 0;
  });
  await worker.stop();
  const summary = await worker.done;
  assert.equal(summary.delivered, 5, 'delivery went on: every new call delivered');
  assert.equal((await crmAdmin(crm.url).requests()).filter((r) => r.method === 'POST').length, 5, 'one POST per new call, none for the purged ones');
  const states = await h.store.states([...recent, dead, ...fresh].map((i) => i.callId));
  assert.deepEqual([...states.values()].sort(), ['dead', ...Array<string>(7).fill('delivered')]);
  assert.equal((await h.store.counts()).dead, 1, 'a dead call stays until replayed or purged with --dead');
});

test('without a retention a worker purges nothing', { timeout: 30_000 }, async (t) => {
  const crm = await startTestCrm();
  const config = testConfig();
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const old = items(3);
  await h.store.enqueueMany(old);
  await h.store.lease({ limit: 3, leaseMs: 60_000, owner: 'seed' });
  await h.store.settle('seed', old.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201 })), Date.now() - 400 * DAY);
  await h.store.enqueueMany(items(2, 10));
  const summary = await startWorker({ store: h.store, client: h.client, config, idleExit: true }).done;
  assert.equal(summary.delivered, 2);
  assert.equal((await h.store.counts()).delivered, 5);
});

test('the purge step takes one batch at a time, oldest deliveries first', { timeout: 30_000 }, async (t) => {
  const crm = await startTestCrm();
  const config = testConfig();
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const all = items(9);
  await h.store.enqueueMany(all);
  await h.store.lease({ limit: 9, leaseMs: 60_000, owner: 'seed' });
  const now = Date.now();
  // Delivered one a day from 36 days ago: the first 7 are older than 30 days.
  for (const [n, item] of all.entries()) await h.store.settle('seed', [{ callId: item.callId, kind: 'delivered', status: 201 }], now - (36 - n) * DAY - 60_000);
  const old = all.slice(0, 7);
  const worker = new DeliveryWorker({ store: h.store, client: h.client, config, retention: { olderThanMs: 30 * DAY, uploadsDir: null, batchSize: 3 } });
  assert.deepEqual([await worker.purge(), await worker.purge(), await worker.purge(), await worker.purge()], [3, 3, 1, 0]);
  assert.deepEqual([...(await h.store.states(all.map((i) => i.callId))).keys()], all.slice(7).map((i) => i.callId), 'the 7 deliveries older than 30 days went, the 2 newer stay');
});
