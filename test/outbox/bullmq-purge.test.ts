/**
 * Retention on BullMQ (docs/architecture.md, "Stores" → "Retention"): after a purge no key of the queue names
 * a purged call or holds its transcript — job hash, log, the completed and failed sets, the store's own
 * indexes — while the calls that stay are whole.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { openBullmqOutbox } from '../../src/outbox/bullmq-store.ts';
import { dropPrefix, REDIS_URL, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { sampleItem } from './sample-item.ts';

const skip = await redisSkipReason();

/** Every key under `prefix` with its whole content as text. */
async function dumpPrefix(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === 'string' ? await redis.get(key)
        : type === 'hash' ? JSON.stringify(await redis.hgetall(key))
        : type === 'list' ? JSON.stringify(await redis.lrange(key, 0, -1))
        : type === 'zset' ? JSON.stringify(await redis.zrange(key, 0, -1))
        : type === 'set' ? JSON.stringify(await redis.smembers(key))
        : type === 'stream' ? JSON.stringify(await redis.xrange(key, '-', '+'))
        : '';
      out.set(key, value ?? '');
    }
  } while (cursor !== '0');
  return out;
}

test('a purged call leaves no key and no byte of its transcript in Redis', { skip: skip ?? false, timeout: 30_000 }, async (t) => {
  const { url, prefix } = redisOutboxUrl('purge');
  const store = await openBullmqOutbox(url, { warn: () => undefined });
  const redis = new Redis(REDIS_URL);
  t.after(async () => {
    await store.close();
    redis.disconnect();
    await dropPrefix(prefix);
  });
  const canary = `CANARY-${process.pid}-${Date.now().toString(36)}`;
  const withCanary = (callId: string) => {
    const item = sampleItem(callId);
    const turn = item.payload.transcription.conversation_items[0];
    assert.ok(turn);
    turn.content = `${canary} ${callId}`;
    return item;
  };
  await store.enqueueMany([withCanary('GONE-DELIVERED'), withCanary('GONE-DEAD'), withCanary('KEPT-DELIVERED'), sampleItem('KEPT-PENDING')]);
  await store.lease({ limit: 4, leaseMs: 60_000, owner: 'w' });
  const entry = { at: 1, step: 'call-data' as const, attempt: 1, status: 201, durationMs: 5, outcome: 'delivered' as const, error: null };
  await store.settle('w', [
    { callId: 'GONE-DELIVERED', kind: 'delivered', status: 201, log: [entry] },
    { callId: 'GONE-DEAD', kind: 'dead', status: 400, error: `refused ${canary}`, countAttempt: true, log: [{ ...entry, status: 400, outcome: 'dead', error: canary }] },
  ]);
  await new Promise((r) => setTimeout(r, 100));
  const cut = Date.now();
  await new Promise((r) => setTimeout(r, 100));
  await store.settle('w', [{ callId: 'KEPT-DELIVERED', kind: 'delivered', status: 201, log: [entry] }]);
  await store.release('w', ['KEPT-PENDING']);

  const before = await dumpPrefix(redis, prefix);
  const naming = (keys: Map<string, string>, id: string): string[] => [...keys].filter(([k, v]) => k.includes(id) || v.includes(id)).map(([k]) => k);
  assert.ok(naming(before, 'GONE-DELIVERED').length >= 3, 'before: its hash, its log and the sets name it');
  assert.ok([...before.values()].some((v) => v.includes(`${canary} GONE-DEAD`)));

  assert.deepEqual(await store.purge({ deliveredBefore: cut, dead: true }), { delivered: 1, dead: 1, recordingPaths: [] });
  const after = await dumpPrefix(redis, prefix);
  assert.deepEqual(naming(after, 'GONE-DELIVERED'), [], 'no key names the purged delivered call');
  assert.deepEqual(naming(after, 'GONE-DEAD'), [], 'nor the purged dead one');
  assert.deepEqual([...after].filter(([, v]) => v.includes(`${canary} GONE`)).map(([k]) => k), [], 'no transcript of theirs is left');
  assert.ok([...after.values()].some((v) => v.includes(`${canary} KEPT-DELIVERED`)), 'the newer delivered call is whole');
  assert.equal((await store.history('KEPT-DELIVERED')).length, 1);
  assert.equal((await store.get('KEPT-PENDING'))?.state, 'pending');
  assert.deepEqual(await store.counts().then((c) => [c.pending, c.in_flight, c.delivered, c.dead]), [1, 0, 1, 0]);
});
