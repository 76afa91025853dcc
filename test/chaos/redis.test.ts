/**
 * Chaos scenario 2 (issue 17): Redis under the BullMQ outbox, on a redis-server of the test's own (its
 * own port and folder, never the shared one).
 *
 * - Redis killed with SIGKILL mid-run and restarted, with `appendonly yes` and `appendfsync always`, then
 *   `everysec`: the worker process rides it out, every enqueued call is delivered, each under its one key,
 *   at most once more (an outcome Redis had not written yet is a re-send under the same key).
 * - A worker cut off while it holds leases (SIGSTOP): its leases expire, another worker delivers the calls;
 *   when it comes back, its late outcomes (503s) must not overwrite the other's: every call stays delivered.
 * - Redis at `maxmemory` with `noeviction`: the enqueue fails clearly (E_OUTBOX_FULL naming the queue),
 *   nothing half-written (a call is wholly there — job and indexes — or not at all), and once memory is
 *   raised the same enqueue goes through and the calls are delivered.
 *
 * Without redis-server these skip with the reason, except on CI, where they fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isCrmUploadError } from '../../src/errors.ts';
import { openBullmqOutbox, type BullmqOutboxStore } from '../../src/outbox/bullmq-store.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { CLI_MAIN, spawnNode, type Child } from '../worker/child.ts';
import { items } from '../worker/harness.ts';
import { assertCrmSide, CALL_DATA_PATH, CHAOS_FULL, ON_CI } from './harness.ts';
import { redisServerMissing, startChaosRedis, type ChaosRedis } from './redis-server.ts';

const missing = redisServerMissing();
if (missing !== null && ON_CI) throw new Error(`${missing}; CI must run the Redis chaos tests`);

/** The env of a `crm-upload worker` on `outbox`, delivering to `crm`. */
function workerEnv(outbox: string, crm: LocalCrm, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CRM_OUTBOX: outbox,
    CRM_API_URL: crm.callDataUrl,
    CRM_UPLOAD_URL: crm.uploadUrl,
    CRM_TIMEOUT_MS: '1s',
    CRM_RETRY_SCHEDULE: '100ms,200ms,400ms',
    CRM_MAX_ATTEMPTS: '30',
    CRM_CONCURRENCY: '4',
    CRM_RATE_LIMIT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

async function stopWorker(w: Child): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  const end = await w.exited;
  assert.equal(end.code, 0, `the worker did not stop cleanly: ${w.stderr()}`);
}

describe('chaos: Redis under the BullMQ outbox', { skip: missing ?? false }, () => {
  let crm: LocalCrm;
  before(async () => {
    crm = await startTestCrm({ latencyMs: 20 });
  });
  after(() => crm.close());

  // CI runs `always`; `npm run chaos` both.
  for (const fsync of CHAOS_FULL ? (['always', 'everysec'] as const) : (['always'] as const)) {
    test(`Redis SIGKILLed mid-run and restarted (appendonly yes, appendfsync ${fsync}): every call delivered, once more at most`, { timeout: 90_000 }, async (t) => {
      const admin = crmAdmin(crm.url);
      await admin.reset();
      await admin.faults({ latencyMs: 20 });
      const redis = await startChaosRedis(['appendonly', 'yes', 'appendfsync', fsync]);
      t.after(() => redis.destroy());
      const outbox = `${redis.url}?prefix=chaos`;
      const store = await openBullmqOutbox(outbox, { warn: () => undefined });
      t.after(() => store.close());
      const calls = CHAOS_FULL ? 600 : 80;
      const list = items(calls, 500);
      for (let i = 0; i < list.length; i += 50) await store.enqueueMany(list.slice(i, i + 50));
      // With everysec an enqueue answered in the last second before a crash may be lost (README, "Faults
      // survived"): the kill comes after the enqueues had time to reach the disk.
      await sleep(fsync === 'everysec' ? 1_500 : 0);

      const worker = spawnNode(CLI_MAIN, ['worker'], workerEnv(outbox, crm));
      t.after(() => worker.child.kill('SIGKILL'));
      await waitFor('a quarter delivered', async () => (await admin.stats()).created >= calls / 4, 30_000);
      await redis.kill();
      const postsAtKill = (await admin.stats()).callDataPosts;
      await sleep(1_000);
      await redis.start();

      let last: unknown = null;
      await waitFor('every call delivered', async () => (last = await store.counts().catch((err: unknown) => String(err))) !== null && (last as { delivered?: number }).delivered === calls, 60_000, 200).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; outbox ${JSON.stringify(last)}; worker stderr: ${worker.stderr().slice(-3000)}`);
      });
      assert.equal(worker.child.exitCode, null, `the worker died with Redis: ${worker.stderr()}`);
      await stopWorker(worker);
      const report = await assertCrmSide(admin, list.map((i) => i.payload), { maxPostsPerCall: 2 });
      const counts = await store.counts();
      assert.deepEqual({ pending: counts.pending, in_flight: counts.in_flight, delivered: counts.delivered, dead: counts.dead }, { pending: 0, in_flight: 0, delivered: calls, dead: 0 });
      t.diagnostic(`${fsync}: ${postsAtKill} POSTs before the kill; ${report.posts} POSTs for ${calls} calls, ${report.repeatedCalls} sent twice`);
    });
  }

  test('a Redis restart: a store that leases waits it out on every connection; one that only reads fails fast', { timeout: 60_000 }, async (t) => {
    const redis = await startChaosRedis(['appendonly', 'yes', 'appendfsync', 'always']);
    t.after(() => redis.destroy());
    const outbox = `${redis.url}?prefix=chaos`;
    const leasing = await openBullmqOutbox(outbox, { warn: () => undefined });
    t.after(() => leasing.close());
    const reading = await openBullmqOutbox(outbox, { warn: () => undefined });
    t.after(() => reading.close());
    const list = items(3, 900);
    await leasing.enqueueMany(list);
    const leased = await leasing.lease({ limit: 3, leaseMs: 60_000, owner: 'w' });
    assert.equal(leased.length, 3);

    await redis.kill();
    // Asked while Redis is down, for longer than a few reconnects: the outcome (its index update and
    // history go through the store's own connection) and the next due time wait; a plain read fails.
    const settled = leasing.settle('w', list.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201, log: [] })));
    const due = leasing.nextDueAt();
    const read = await reading.counts().then(() => 'answered', (err: unknown) => String(err));
    assert.match(read, /max retries per request|Connection is closed|ECONNREFUSED/i);
    await sleep(1_500);
    await redis.start();
    await settled;
    await due;
    const counts = await reading.counts();
    assert.deepEqual({ pending: counts.pending, in_flight: counts.in_flight, delivered: counts.delivered }, { pending: 0, in_flight: 0, delivered: 3 });
    assert.equal(await leasing.redis.zcard(leasing.key('open')), 0, 'the delivered calls left the backlog index');
  });

  test('a worker cut off while it holds leases: another delivers, and its late outcomes overwrite nothing', { timeout: 90_000 }, async (t) => {
    const admin = crmAdmin(crm.url);
    await admin.reset();
    const redis = await startChaosRedis(['appendonly', 'yes', 'appendfsync', 'always']);
    t.after(() => redis.destroy());
    const outbox = `${redis.url}?prefix=chaos`;
    const store = await openBullmqOutbox(outbox, { warn: () => undefined });
    t.after(() => store.close());
    const list = items(12, 700);
    // The cut-off worker's two requests are answered 503, a second after they arrive.
    await admin.faults({ latencyMs: 800, forceStatus: { status: 503, count: 2 } });
    await store.enqueueMany(list);

    const env = workerEnv(outbox, crm, { CRM_CONCURRENCY: '2' });
    const cutOff = spawnNode(CLI_MAIN, ['worker'], env);
    t.after(() => {
      cutOff.child.kill('SIGCONT');
      cutOff.child.kill('SIGKILL');
    });
    await waitFor('the first worker to send two requests', async () => (await admin.stats()).callDataPosts >= 2, 30_000, 20);
    cutOff.child.kill('SIGSTOP');
    const leased = (await store.counts()).in_flight;
    assert.ok(leased >= 2, `the stopped worker holds ${leased} leases`);

    await admin.faults({ latencyMs: 20 });
    const other = spawnNode(CLI_MAIN, ['worker'], env);
    t.after(() => other.child.kill('SIGKILL'));
    await waitFor('every call delivered by the other worker', async () => (await store.counts()).delivered === list.length, 60_000, 100);
    const firstTwo = (await admin.requests()).filter((r) => r.path === CALL_DATA_PATH).slice(0, 2);
    assert.deepEqual(firstTwo.map((r) => r.status), [503, 503], 'the cut-off worker was answered 503');

    // Back: it reads its 503s (or its deadline passes) and reports them, for calls it no longer holds.
    cutOff.child.kill('SIGCONT');
    await sleep(2_000);
    const counts = await store.counts();
    assert.deepEqual({ pending: counts.pending, in_flight: counts.in_flight, delivered: counts.delivered, dead: counts.dead }, { pending: 0, in_flight: 0, delivered: list.length, dead: 0 });
    for (const { callId } of firstTwo.map((r) => ({ callId: r.callId as string }))) {
      const item = await store.get(callId);
      assert.equal(item?.state, 'delivered', `${callId} was overwritten by the late outcome: ${JSON.stringify(item?.lastError)}`);
    }
    assert.equal(cutOff.child.exitCode, null, `the cut-off worker died: ${cutOff.stderr()}`);
    await stopWorker(cutOff);
    await stopWorker(other);
    await assertCrmSide(admin, list.map((i) => i.payload), { maxPostsPerCall: 2 });
  });

  test('Redis at maxmemory with noeviction: the enqueue fails clearly, nothing half-written, and goes through once there is room', { timeout: 60_000 }, async (t) => {
    const admin = crmAdmin(crm.url);
    await admin.reset();
    await admin.faults({ latencyMs: 0 });
    const redis = await startChaosRedis(['appendonly', 'yes', 'appendfsync', 'always', 'maxmemory-policy', 'noeviction']);
    t.after(() => redis.destroy());
    const outbox = `${redis.url}?prefix=chaos`;
    const store = await openBullmqOutbox(outbox, { warn: () => undefined });
    t.after(() => store.close());
    const used = Number(/used_memory:(\d+)/.exec(String(await redis.command('INFO', 'memory')))?.[1]);
    await redis.command('CONFIG', 'SET', 'maxmemory', String(used + 512 * 1024));

    let failure: unknown = null;
    let enqueued = 0;
    for (let i = 0; i < 2_000 && failure === null; i++) {
      const batch = items(5, 1_000 + i * 5);
      try {
        await store.enqueueMany(batch);
        enqueued += batch.length;
      } catch (err) {
        failure = { err, batch };
      }
    }
    assert.ok(failure !== null, 'Redis never refused an enqueue');
    const { err, batch } = failure as { err: unknown; batch: ReturnType<typeof items> };
    assert.ok(isCrmUploadError(err, 'E_OUTBOX_FULL'), `expected E_OUTBOX_FULL, got ${String(err)}`);
    assert.match(err.message, /^cannot add to the outbox redis:\/\/127\.0\.0\.1:\d+.*: Redis is out of memory \(maxmemory, noeviction\)/);
    // Nothing half-written: no job of the refused batch, and no index entry of one (Redis does not roll a
    // MULTI back; the store takes out what the batch had added before the refusal).
    const jobKey = (callId: string): string => store.key('x').replace(/crm:x$/, callId);
    for (const { callId } of batch) {
      assert.equal(await store.redis.exists(jobKey(callId)), 0, `${callId}: a job left by the refused enqueue`);
      assert.equal(await store.redis.zscore(store.key('open'), callId), null, `${callId}: left in the backlog index`);
      assert.equal(await store.redis.zscore(store.key('start'), callId), null, `${callId}: left in the start-time index`);
    }
    const before = await store.counts();
    assert.equal(before.pending, enqueued, 'the calls enqueued before are all there');

    await redis.command('CONFIG', 'SET', 'maxmemory', '0');
    await store.enqueueMany(batch);
    const all = [...items(enqueued, 1_000), ...batch];
    const worker = spawnNode(CLI_MAIN, ['worker'], workerEnv(outbox, crm, { CRM_CONCURRENCY: '16' }));
    t.after(() => worker.child.kill('SIGKILL'));
    await waitFor('every call delivered', async () => (await store.counts()).delivered === all.length, 60_000, 200);
    await stopWorker(worker);
    await assertCrmSide(admin, all.map((i) => i.payload), { maxPostsPerCall: 1 });
  });
});
