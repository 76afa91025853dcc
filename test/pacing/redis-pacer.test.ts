/**
 * The Redis pacer: several pacers on one key (several processes, several hosts) together grant at most
 * one request per interval, evenly; a hold set through one pauses the others, with pacing on or off.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { CATCH_UP_MS } from '../../src/pacing/pacer.ts';
import { PAUSE_POLL_MS, createRedisPacer, type RedisPacerKeys } from '../../src/pacing/redis-pacer.ts';
import { REDIS_URL, redisSkipReason } from '../helpers/redis.ts';

const skip = await redisSkipReason();

describe('Redis pacer', { skip: skip ?? false }, () => {
  const clients: Redis[] = [];
  const keys: string[] = [];
  const client = (): Redis => {
    const r = new Redis(REDIS_URL);
    clients.push(r);
    return r;
  };
  const freshKey = (): RedisPacerKeys => {
    const k = `crmtest-pacer-${randomUUID().slice(0, 8)}`;
    keys.push(k, `${k}:pause`, `${k}:last`, `${k}:last:shift`, `${k}:last:second`);
    return { slot: k, pause: `${k}:pause`, shift: `${k}:last:shift`, second: `${k}:last:second` };
  };
  after(async () => {
    if (keys.length > 0) await clients[0]?.del(...keys);
    for (const c of clients) c.disconnect();
  });

  test('a slot further than maxWaitMs is not booked: the caller gives its place up, the next one keeps the timeline', async () => {
    const key = freshKey();
    const [a, b] = [client(), client()].map((r) => createRedisPacer(r, key, 600)); // 102 ms apart
    if (a === undefined || b === undefined) throw new Error('two pacers');
    assert.equal(await a.acquire(), true); // slot 0, now
    assert.equal(await a.acquire(undefined, 500), true); // slot 1, one interval on: within 500 ms
    // Slot 2 is one interval away: further than 10 ms, so refused, and nothing is booked.
    assert.equal(await b.acquire(undefined, 10), false);
    assert.ok(b.delayMs() > 10, `the refusal tells how far the shared timeline is booked (${b.delayMs()} ms)`);
    // Had the refused call booked slot 2, this one would get slot 3, two intervals away (over 150 ms).
    const before = performance.now();
    assert.equal(await b.acquire(undefined, 150), true);
    assert.ok(performance.now() - before < 150 + CATCH_UP_MS, 'slot 2, not slot 3');
  });

  test('three pacers on one key share one limit: grants evenly spaced across all of them', async () => {
    const key = freshKey();
    const pacers = [client(), client(), client()].map((r) => createRedisPacer(r, key, 1200)); // 51 ms apart
    const interval = pacers[0]?.intervalMs ?? 0;
    assert.equal(interval, 51);
    const grants: number[] = [];
    await Promise.all(pacers.flatMap((p) => [1, 2, 3, 4].map(() => p.acquire().then(() => void grants.push(performance.now())))));
    grants.sort((a, b) => a - b);
    assert.equal(grants.length, 12);
    // Grants keep to slots one interval apart, each making up for at most CATCH_UP_MS of lateness: any
    // k + 1 grants span at least k intervals less that allowance (less 40 ms: a loaded machine stalls
    // this process, which stamps the grants, not Redis).
    for (let i = 0; i < grants.length; i++) {
      for (let j = i + 1; j < grants.length; j++) {
        const span = (grants[j] ?? 0) - (grants[i] ?? 0);
        assert.ok(span >= (j - i) * interval - CATCH_UP_MS - 40, `grants ${i}..${j}: ${span.toFixed(1)} ms`);
      }
    }
  });

  for (const rate of [0, 600]) {
    test(`a hold set by one process pauses the others (pacing ${rate === 0 ? 'off' : 'on'})`, async () => {
      const key = freshKey();
      const a = createRedisPacer(client(), key, rate);
      const b = createRedisPacer(client(), key, rate);
      await b.acquire();
      await new Promise((r) => setTimeout(r, PAUSE_POLL_MS + 10)); // b's last look at the pause is stale
      a.holdFor(400);
      await new Promise((r) => setTimeout(r, 20)); // the hold reaches Redis
      const t0 = performance.now();
      await b.acquire();
      const waited = performance.now() - t0;
      assert.ok(waited >= 400 - 20 - 30, `b waited ${waited.toFixed(0)} ms for a's hold`);
    });
  }
});
