/**
 * The BullMQ store: the same contract suite as the SQLite store, unchanged, each test on its own queue
 * prefix (removed afterwards); then what only this store has (start-up checks, the queue-wide pause).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ConfigError } from '../../src/errors.ts';
import { createOutbox } from '../../src/outbox/create-outbox.ts';
import { openBullmqOutbox, type BullmqOutboxStore } from '../../src/outbox/bullmq-store.ts';
import { parseRedisTarget, redactRedisUrl } from '../../src/outbox/redis-target.ts';
import { dropPrefix, REDIS_URL, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { outboxContractSuite, type OutboxFixture } from './outbox-contract.ts';
import { sampleItem } from './sample-item.ts';
import { waitFor } from '../helpers/wait-for.ts';

const STALLED_MS = 100;
const skip = await redisSkipReason();

/** A fresh queue on its own prefix, with a quick stalled-job check so that expired leases come back soon. */
async function bullmqFixture(): Promise<OutboxFixture> {
  const { url, prefix } = redisOutboxUrl('contract');
  const open = (): Promise<BullmqOutboxStore> => openBullmqOutbox(url, { stalledIntervalMs: STALLED_MS, warn: () => undefined });
  const opened: BullmqOutboxStore[] = [await open()];
  return {
    store: opened[0] as BullmqOutboxStore,
    reopen: async () => {
      const store = await open();
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of opened) await store.close();
      await dropPrefix(prefix);
    },
    // BullMQ moves a job whose lock expired back on its second stalled check after the expiry.
    recoveryMs: 3 * STALLED_MS,
  };
}

if (skip !== null) {
  test('BullMQ store', { skip }, () => undefined);
} else {
  outboxContractSuite('BullMQ', bullmqFixture);

  describe('BullMQ store', () => {
    test('the Redis URL: queue and prefix from the query, the password never shown', () => {
      const t = parseRedisTarget('redis://app:s3cret@redis.internal:6380/2?queue=calls&prefix=prod');
      assert.deepEqual({ queue: t.queue, prefix: t.prefix, tls: t.tls }, { queue: 'calls', prefix: 'prod', tls: false });
      assert.equal(t.connectionUrl, 'redis://app:s3cret@redis.internal:6380/2');
      assert.equal(t.shown, 'redis://app:***@redis.internal:6380/2');
      assert.equal(parseRedisTarget('rediss://h').tls, true);
      assert.deepEqual([parseRedisTarget('redis://h').queue, parseRedisTarget('redis://h').prefix], ['crm-upload', 'bull']);
      assert.throws(() => parseRedisTarget('redis://h/abc'), ConfigError);
      assert.throws(() => parseRedisTarget('redis://h?queue=a:b'), ConfigError);
      assert.doesNotMatch(redactRedisUrl('redis//app:s3cret@host'), /s3cret/, 'an unparsable URL shows no secret either');
    });

    test('Redis unreachable: a ConfigError naming the URL without its password', async () => {
      const url = 'redis://app:s3cret@127.0.0.1:1/0';
      await assert.rejects(createOutbox(url), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.context.variable, 'CRM_OUTBOX');
        assert.match(err.message, /cannot reach Redis at redis:\/\/app:\*\*\*@127\.0\.0\.1:1\/0/);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
    });

    test('obliterate leaves no key of the queue behind, the shared pacer\'s slots and hold included', async () => {
      const { url, prefix } = redisOutboxUrl('obliterate');
      const store = await openBullmqOutbox(url, { warn: () => undefined });
      const admin = new Redis(REDIS_URL);
      try {
        await store.enqueueMany([sampleItem('A'), sampleItem('B')]);
        const pacer = store.capabilities.sharedPacer?.(600);
        assert.ok(pacer, 'the BullMQ store shares a pacer');
        await pacer.acquire(); // books a slot and records a grant
        pacer.holdFor(60_000);
        await waitFor('the hold to reach Redis', async () => ((await store.nextDueAt()) ?? 0) > Date.now() + 30_000, 5_000, 10);
        assert.ok((await admin.keys(`${prefix}:*`)).length > 0);
        await store.obliterate();
        assert.deepEqual(await admin.keys(`${prefix}:*`), []);
      } finally {
        admin.disconnect();
        await store.close();
        await dropPrefix(prefix);
      }
    });

    test('an eviction policy other than noeviction is a loud warning; noeviction is not', async () => {
      const admin = new Redis(REDIS_URL);
      const [, before] = (await admin.config('GET', 'maxmemory-policy')) as [string, string];
      const { url, prefix } = redisOutboxUrl('policy');
      try {
        await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
        const warnings: string[] = [];
        const store = await openBullmqOutbox(url, { warn: (m) => warnings.push(m) });
        await store.close();
        assert.ok(warnings.some((w) => /maxmemory-policy=allkeys-lru/.test(w) && /EVICT QUEUED CALLS/.test(w)), warnings.join('\n'));
        await admin.config('SET', 'maxmemory-policy', 'noeviction');
        const quiet: string[] = [];
        await (await openBullmqOutbox(url, { warn: (m) => quiet.push(m) })).close();
        assert.deepEqual(quiet.filter((w) => /maxmemory-policy/.test(w)), []);
      } finally {
        await admin.config('SET', 'maxmemory-policy', before);
        admin.disconnect();
        await dropPrefix(prefix);
      }
    });

    test('a 429 hold through the shared pacer pauses the whole queue; the wait uses no attempt', async () => {
      const { url, prefix } = redisOutboxUrl('pause');
      const a = await openBullmqOutbox(url, { warn: () => undefined });
      const b = await openBullmqOutbox(url, { warn: () => undefined });
      try {
        await a.enqueueMany([sampleItem('A'), sampleItem('B')]);
        const [first] = await a.lease({ limit: 1, leaseMs: 60_000, owner: 'wa' });
        assert.equal(first?.callId, 'A');
        const until = Date.now() + 600;
        // What the worker does with a 429: hold the store's shared pacer (the queue's one hold), record the wait.
        assert.ok(a.capabilities.sharedPacer, 'the BullMQ store declares a shared pacer');
        a.capabilities.sharedPacer(0).holdFor(until - Date.now());
        await a.settle('wa', [{ callId: 'A', kind: 'wait', nextAttemptAt: until, status: 429, error: 'Retry-After 1' }]);
        // The hold is written without waiting for it (the worker is settling); it reaches Redis at once.
        await waitFor('the hold to reach Redis', async () => ((await b.nextDueAt()) ?? 0) >= until - 50, 5_000, 10);
        // B was due all along, but another process on the same queue waits out the CRM's Retry-After too.
        assert.deepEqual(await b.lease({ limit: 5, leaseMs: 60_000, owner: 'wb' }), []);
        assert.ok(((await b.nextDueAt()) ?? 0) >= until - 50, 'the next due time waits for the pause');
        let got: string[] = [];
        while (got.length === 0 && Date.now() < until + 3_000) {
          got = (await b.lease({ limit: 5, leaseMs: 60_000, owner: 'wb' })).map((i) => i.callId);
          if (got.length === 0) await new Promise((r) => setTimeout(r, 25));
        }
        assert.ok(Date.now() >= until - 50, 'nothing before the pause ended');
        assert.deepEqual(got.sort(), ['A', 'B']);
        assert.equal((await b.get('A'))?.attempts, 0, 'the wait used up no attempt');
      } finally {
        await a.close();
        await b.close();
        await dropPrefix(prefix);
      }
    });
  });
}
