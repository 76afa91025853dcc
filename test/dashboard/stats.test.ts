/**
 * The "last hour" of the dashboard on a real SQLite outbox with a controlled clock, by delivery time: calls
 * that started months ago (a backfill) count in the bucket they were delivered in, with their enqueue →
 * delivered latency; a requeued call leaves its bucket and counts again where it is delivered again; a quiet
 * outbox's calls leave the window as time passes; a read that cannot take the whole window says so.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDeliveryStats } from '../../src/dashboard/stats.ts';
import type { OutboxStore } from '../../src/outbox/outbox-store.ts';
import { BACKENDS, testItem } from './fixture.ts';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

async function sqliteOutbox(t: { after: (fn: () => Promise<void>) => void }): Promise<OutboxStore> {
  const sqlite = BACKENDS.find((b) => b.name === 'SQLite');
  assert.ok(sqlite);
  const outbox = await sqlite.open();
  t.after(() => outbox.cleanup());
  return outbox.store;
}

async function deliver(store: OutboxStore, callIds: string[], at: number): Promise<void> {
  const leased = await store.lease({ limit: 100, leaseMs: 60 * MIN, owner: 'test', callIds, now: at });
  await store.settle('test', leased.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201 })), at);
}

test('buckets by delivery time: a backfill of old calls counts when delivered, with its latency', async (t) => {
  const store = await sqliteOutbox(t);
  // Calls that started 90 days ago, enqueued now (a bulk of last season's folders).
  const items = [0, 1, 2, 3].map((i) => testItem(100 + i, { startedAgoMs: 90 * DAY }));
  await store.enqueueMany(items);
  const enqueuedAt = (await store.get(items[0]?.callId ?? ''))?.createdAt ?? 0;
  const ids = items.map((i) => i.callId);

  // Two delivered 10 min after the enqueue; the clock stands 30 min after it.
  let clock = enqueuedAt + 30 * MIN;
  await deliver(store, ids.slice(0, 2), enqueuedAt + 10 * MIN);
  const stats = createDeliveryStats(store, { now: () => clock, readEveryMs: 0 });
  assert.equal(stats.snapshot().readAt, null);
  await stats.sample();

  const total = (): number => stats.snapshot().buckets.reduce((n, b) => n + b.delivered, 0);
  const bucketOf = (at: number) => stats.snapshot().buckets.find((b) => b.start <= at && at < b.end);
  let snap = stats.snapshot();
  assert.equal(snap.readAt, clock);
  assert.equal(snap.truncated, false);
  assert.equal(snap.buckets.length, 12);
  assert.equal(snap.buckets.at(-1)?.end, Math.floor(clock / (5 * MIN)) * 5 * MIN + 5 * MIN, 'the last bucket is the current one');
  assert.deepEqual(bucketOf(enqueuedAt + 10 * MIN), {
    start: Math.floor((enqueuedAt + 10 * MIN) / (5 * MIN)) * 5 * MIN,
    end: Math.floor((enqueuedAt + 10 * MIN) / (5 * MIN)) * 5 * MIN + 5 * MIN,
    delivered: 2,
    latency: { count: 2, p50Ms: 10 * MIN, p95Ms: 10 * MIN, maxMs: 10 * MIN },
  });
  assert.equal(total(), 2);

  // One more, delivered now: in the current bucket, 31 min after its enqueue.
  clock += MIN;
  await deliver(store, [ids[2] ?? ''], clock);
  await stats.sample();
  assert.equal(total(), 3);
  assert.deepEqual(bucketOf(clock)?.latency, { count: 1, p50Ms: 31 * MIN, p95Ms: 31 * MIN, maxMs: 31 * MIN });
  assert.equal(bucketOf(enqueuedAt + 10 * MIN)?.delivered, 2, 'the earlier bucket is unchanged');

  // A requeue takes the call out of its bucket; delivered again, it counts where it is delivered again.
  clock += MIN;
  assert.equal(await store.requeue([ids[0] ?? '']), 1);
  await stats.sample();
  assert.equal(total(), 2);
  assert.equal(bucketOf(enqueuedAt + 10 * MIN)?.delivered, 1);
  clock += 5 * MIN;
  await deliver(store, [ids[0] ?? ''], clock);
  await stats.sample();
  assert.equal(total(), 3);
  assert.equal(bucketOf(clock)?.delivered, 1);

  // Nothing delivered for 70 min: the quiet outbox is read again and every call has left the window.
  clock += 70 * MIN;
  await stats.sample();
  assert.equal(total(), 0);
  assert.equal(stats.lastDelivered(), 3);
});

test('reads at most every readEveryMs, and says when one read cannot take the whole window', async (t) => {
  const store = await sqliteOutbox(t);
  const items = [0, 1, 2, 3, 4].map((i) => testItem(200 + i, { startedAgoMs: 200 * DAY }));
  await store.enqueueMany(items);
  const enqueuedAt = (await store.get(items[0]?.callId ?? ''))?.createdAt ?? 0;
  let clock = enqueuedAt + MIN;
  await deliver(store, items.slice(0, 2).map((i) => i.callId), clock);

  const stats = createDeliveryStats(store, { now: () => clock, readEveryMs: 30_000 });
  const total = (): number => stats.snapshot().buckets.reduce((n, b) => n + b.delivered, 0);
  await stats.sample();
  assert.equal(total(), 2);
  clock += 10_000;
  await deliver(store, [items[2]?.callId ?? ''], clock);
  await stats.sample();
  assert.equal(total(), 2, 'not re-read 10 s after the last read');
  assert.equal(stats.lastDelivered(), 3, 'the count itself is current');
  clock += 20_000;
  await stats.sample();
  assert.equal(total(), 3, 're-read once readEveryMs has passed');

  await deliver(store, items.slice(3).map((i) => i.callId), clock);
  const small = createDeliveryStats(store, { now: () => clock, readEveryMs: 0, pageSize: 2, maxPages: 2 });
  await small.sample();
  const snap = small.snapshot();
  assert.equal(snap.truncated, true);
  assert.equal(snap.buckets.reduce((n, b) => n + b.delivered, 0), 4, 'two pages of two: a floor of the five');
});
