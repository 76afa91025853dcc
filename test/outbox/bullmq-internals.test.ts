/**
 * What the BullMQ store relies on of BullMQ beyond its public API (`src/outbox/bullmq-internals.ts`),
 * checked against the installed BullMQ on a real Redis: each test names the use it covers, so an
 * upgrade that changes one fails here, before any delivery goes wrong. The bullmq range in package.json
 * is pinned to the versions these tests have passed on; widen it only after running them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  DELAY_SCORE_SHIFT,
  NO_LOCK_TOKEN,
  delayedDueAt,
  dropLock,
  eventsKey,
  isRefusal,
  leaseOf,
  lockKey,
  logsKey,
  queueSnapshot,
  trimEventsBefore,
  updateDataIfHeld,
} from '../../src/outbox/bullmq-internals.ts';
import { dropPrefix, REDIS_URL, redisSkipReason } from '../helpers/redis.ts';

const skip = await redisSkipReason();

describe('BullMQ internals the store relies on', { skip: skip ?? false }, () => {
  const prefix = `crmtest-internals-${randomUUID().slice(0, 8)}`;
  let redis: Redis;
  let workerRedis: Redis;
  let queue: Queue;
  let worker: Worker;
  before(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    workerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue('q', { connection: redis, prefix });
    worker = new Worker('q', null, { connection: workerRedis, prefix, autorun: false, lockDuration: 30_000 });
    await queue.waitUntilReady();
  });
  after(async () => {
    await worker.close(true);
    await queue.close();
    workerRedis.disconnect();
    redis.disconnect();
    await dropPrefix(prefix);
  });

  /** Add a job and lease it with `token`, as the store's `lease` does. */
  async function leased(id: string, token: string): Promise<Job> {
    await queue.add('call', { n: 1 }, { jobId: id, attempts: 5, removeOnComplete: false, removeOnFail: false });
    for (;;) {
      const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
      assert.ok(job, 'a waiting job is handed out');
      if (job.id === id) return job;
    }
  }

  test('use 2: a delayed job\'s score is its due time shifted left by 12 bits', async () => {
    const timestamp = Date.now();
    const job = await queue.add('call', {}, { jobId: 'delayed-1', delay: 60_000, timestamp });
    const score = await redis.zscore(queue.toKey('delayed'), job.id as string);
    assert.ok(score !== null, 'the job is in the delayed set under toKey("delayed")');
    assert.equal(Math.floor(Number(score) / DELAY_SCORE_SHIFT), timestamp + 60_000);
    assert.equal(await delayedDueAt(redis, queue, 'delayed-1'), timestamp + 60_000);
    const snapshot = await queueSnapshot(redis, queue);
    assert.equal(snapshot.earliestDelayed, timestamp + 60_000);
    assert.equal(await delayedDueAt(redis, queue, 'no-such-job'), null);
    await job.remove();
  });

  test('use 1: the key layout (wait list, active list, lock with the token and the lease as TTL, log list)', async () => {
    await queue.add('call', {}, { jobId: 'waiting-1' });
    assert.equal((await queueSnapshot(redis, queue)).dueNow >= 1, true, 'a waiting job is counted from the wait list');
    const job = await leased('waiting-1', 'owner-a');
    const snapshot = await queueSnapshot(redis, queue);
    assert.ok(snapshot.active.includes('waiting-1'), 'a leased job is in the active list');
    assert.equal(await redis.get(lockKey(queue, 'waiting-1')), 'owner-a', 'the lock holds the token');
    const lease = await leaseOf(redis, queue, 'waiting-1');
    assert.equal(lease.owner, 'owner-a');
    assert.ok(lease.leftMs > 25_000 && lease.leftMs <= 30_000, `the lock's TTL is the lease: ${lease.leftMs}`);
    await job.log('a line');
    assert.deepEqual(await redis.lrange(logsKey(queue, 'waiting-1'), 0, -1), ['a line'], 'job.log appends to toKey(id):logs');
    await job.moveToCompleted('ok', 'owner-a', false);
    assert.equal((await leaseOf(redis, queue, 'waiting-1')).owner, null, 'a completed job has no lock');
  });

  test('use 3: updateData checks no lock; updateDataIfHeld writes only for the holder of an active job', async () => {
    const job = await leased('held-1', 'owner-a');
    // The public updateData writes whoever calls it: the reason the store has its own script.
    await job.updateData({ n: 2 });
    assert.equal(await updateDataIfHeld(redis, queue, 'held-1', 'owner-b', { n: 3 }), false, 'another token writes nothing');
    assert.deepEqual((await Job.fromId(queue, 'held-1'))?.data, { n: 2 });
    assert.equal(await updateDataIfHeld(redis, queue, 'held-1', 'owner-a', { n: 4 }), true);
    assert.deepEqual((await Job.fromId(queue, 'held-1'))?.data, { n: 4 });
    await job.moveToCompleted('ok', 'owner-a', false);
    assert.equal(await updateDataIfHeld(redis, queue, 'held-1', 'owner-a', { n: 5 }), false, 'a job no longer active is not written');
  });

  test('use 4: the moves the store makes are refused with messages isRefusal recognises', async () => {
    const job = await leased('refused-1', 'owner-a');
    const refusals: unknown[] = [];
    const attempt = async (move: () => Promise<unknown>): Promise<void> => {
      try {
        await move();
        assert.fail('the move was expected to be refused');
      } catch (err) {
        refusals.push(err);
      }
    };
    await attempt(() => job.moveToCompleted('x', 'owner-b', false)); // the lock is another owner's
    await attempt(() => job.moveToFailed(new Error('x'), 'owner-b', false));
    await attempt(() => job.moveToDelayed(Date.now() + 1_000, 'owner-b'));
    await attempt(() => job.moveToWait('owner-b'));
    await job.moveToCompleted('ok', 'owner-a', false);
    await attempt(() => job.moveToFailed(new Error('x'), 'owner-a', false)); // no longer active
    await attempt(() => job.retry('failed')); // not in the failed set
    assert.equal(refusals.length, 6);
    for (const err of refusals) assert.ok(isRefusal(err), `not recognised as a refusal: ${(err as Error).message}`);
    assert.equal(isRefusal(new Error('Connection is closed.')), false, 'a real failure is not a refusal');
  });

  test('use 6: the event stream names each job and a failure\'s message, with ms ids; trimEventsBefore cuts it by time', async () => {
    const job = await leased('events-1', 'owner-a');
    // Failed for good, as the store's dead: discard, then moveToFailed.
    job.discard();
    await job.moveToFailed(new Error('refused: events-canary'), 'owner-a', false);
    const entries = await redis.xrange(eventsKey(queue), '-', '+');
    const text = JSON.stringify(entries);
    assert.ok(text.includes('events-1') && text.includes('events-canary'), 'the stream names the job and quotes its failure');
    const last = entries.at(-1);
    assert.ok(last);
    const ms = Number(last[0].split('-')[0]);
    assert.ok(Math.abs(ms - Date.now()) < 60_000, 'entry ids are epoch ms');
    await trimEventsBefore(redis, queue, ms + 1);
    assert.equal(JSON.stringify(await redis.xrange(eventsKey(queue), '-', '+')).includes('events-canary'), false);
  });

  test('use 5: moveToCompleted with token "0" skips the lock check and leaves the lock, which dropLock removes', async () => {
    const job = await leased('nolock-1', 'owner-a');
    await job.moveToCompleted({ status: 200 }, NO_LOCK_TOKEN, false);
    assert.equal(await job.getState(), 'completed');
    assert.equal(await redis.get(lockKey(queue, 'nolock-1')), 'owner-a', 'BullMQ left the lock in place');
    await dropLock(redis, queue, 'nolock-1');
    assert.equal(await redis.exists(lockKey(queue, 'nolock-1')), 0);
  });
});
