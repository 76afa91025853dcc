/**
 * The "last hour" of the dashboard on a real SQLite outbox with a controlled clock: calls delivered
 * before the first sample are counted from the delivered items (with their latency), later ones from
 * the rise of the delivered count between samples; a requeue is not a negative delivery.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDeliveryStats } from '../../src/dashboard/stats.ts';
import { BACKENDS, testItem } from './fixture.ts';

const MIN = 60_000;

test('buckets: backfill before the first sample, deltas after, latency from the items', async (t) => {
  const sqlite = BACKENDS.find((b) => b.name === 'SQLite');
  assert.ok(sqlite);
  const outbox = await sqlite.open();
  t.after(() => outbox.cleanup());
  const { store } = outbox;
  const items = [0, 1, 2, 3].map((i) => testItem(100 + i, { startedAgoMs: 10 * MIN }));
  await store.enqueueMany(items);
  const enqueuedAt = (await store.get(items[0]?.callId ?? ''))?.createdAt ?? 0;
  const ids = items.map((i) => i.callId);

  // Two delivered 10 min after the enqueue; the clock stands 30 min after it.
  let clock = enqueuedAt + 30 * MIN;
  const deliver = async (callIds: string[], at: number): Promise<void> => {
    const leased = await store.lease({ limit: 10, leaseMs: 60 * MIN, owner: 'test', callIds, now: at });
    await store.settle('test', leased.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201 })), at);
  };
  await deliver(ids.slice(0, 2), enqueuedAt + 10 * MIN);
  const stats = createDeliveryStats(store, { now: () => clock, latencyEveryMs: 0 });
  assert.equal(stats.snapshot().sampledSince, null);
  await stats.sample();

  const bucketOf = (at: number) => stats.snapshot().buckets.find((b) => b.start <= at && at < b.end);
  let snap = stats.snapshot();
  assert.equal(snap.buckets.length, 12);
  assert.equal(snap.buckets.at(-1)?.end, Math.floor(clock / (5 * MIN)) * 5 * MIN + 5 * MIN, 'the last bucket is the current one');
  assert.deepEqual(bucketOf(enqueuedAt + 10 * MIN), {
    start: Math.floor((enqueuedAt + 10 * MIN) / (5 * MIN)) * 5 * MIN,
    end: Math.floor((enqueuedAt + 10 * MIN) / (5 * MIN)) * 5 * MIN + 5 * MIN,
    delivered: 2,
    latency: { count: 2, p50Ms: 10 * MIN, p95Ms: 10 * MIN, maxMs: 10 * MIN },
  });
  assert.equal(snap.buckets.reduce((n, b) => n + b.delivered, 0), 2);

  // One more, delivered now: counted by the rise of the count at the next sample.
  clock += MIN;
  await deliver([ids[2] ?? ''], clock);
  await stats.sample();
  snap = stats.snapshot();
  assert.equal(snap.buckets.reduce((n, b) => n + b.delivered, 0), 3);
  assert.equal(bucketOf(clock)?.delivered, 1);
  assert.equal(bucketOf(clock)?.latency?.maxMs, 31 * MIN);
  assert.equal(bucketOf(enqueuedAt + 10 * MIN)?.delivered, 2, 'the backfilled bucket is unchanged');

  // A requeue lowers the count: not a negative delivery. Delivering it again is one more.
  clock += MIN;
  assert.equal(await store.requeue([ids[0] ?? '']), 1);
  await stats.sample();
  assert.equal(stats.snapshot().buckets.reduce((n, b) => n + b.delivered, 0), 2, 'the requeued call is no longer delivered (its backfill entry is gone)');
  clock += MIN;
  await deliver([ids[0] ?? ''], clock);
  await stats.sample();
  assert.equal(stats.snapshot().buckets.reduce((n, b) => n + b.delivered, 0), 3);

  // An hour later, all of it has left the window.
  clock += 70 * MIN;
  await stats.sample();
  assert.equal(stats.snapshot().buckets.reduce((n, b) => n + b.delivered, 0), 0);
  assert.equal(stats.lastDelivered(), 3);
});
