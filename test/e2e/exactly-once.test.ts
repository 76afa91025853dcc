/**
 * Exactly once against a CRM that ignores Idempotency-Key (issue 19; docs/architecture.md, "Delivery" →
 * "Verify before re-sending"): the local CRM stores every POST as a new call and loses 5% of its answers
 * after storing the call. A repeated POST would be a second record, so the CRM's own listing is the
 * proof: every callId held exactly once, and no duplicate.
 *
 * - SQLite: `crm-upload bulk` of 1,000 generated calls killed with SIGKILL 8 times, each time after some
 *   more calls were stored, then run to the end.
 * - BullMQ: 3 `crm-upload worker` processes on one queue, one killed with SIGKILL mid-run.
 * - And what the check prevents: the same CRM with `CRM_VERIFY_BEFORE_RESEND=never` holds duplicates.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { openBullmqOutbox } from '../../src/outbox/bullmq-store.ts';
import type { NewOutboxItem } from '../../src/outbox/outbox-store.ts';
import { crmAdmin, spawnLocalCrmProcess, startTestCrm, type CrmAdmin } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { dropPrefix, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { CLI_MAIN, spawnNode, type Child } from '../worker/child.ts';
import { generateCalls, type GeneratedSet } from './generate-calls.ts';
import { cliEnv, finished, lastJson, removeTempDirs, runCli, startCli, tempDir, waitFor } from './run-cli.ts';
import { mulberry32 as seeded } from '../../src/local-crm/seeded-random.ts';

after(removeTempDirs);

const CALL_DATA = '/apis/api/public/call-data';
const LOST_ANSWER_RATE = 0.05;
/** What the CRM holds and what it received. */
async function crmSide(admin: CrmAdmin, url: string): Promise<{ stored: CallPayload[]; duplicates: { callId: string; count: number }[]; posts: number; gets: number; lostAnswers: number }> {
  const requests = await admin.requests();
  const stats = await admin.stats();
  return {
    stored: await admin.calls(),
    duplicates: (await (await fetch(`${url}/__admin/duplicates`)).json()) as { callId: string; count: number }[],
    posts: requests.filter((r) => r.method === 'POST' && r.path === CALL_DATA).length,
    gets: requests.filter((r) => r.method === 'GET' && r.path === CALL_DATA).length,
    lostAnswers: stats.faults.lostAnswer,
  };
}

/** Every expected callId stored exactly once, nothing else. */
function assertExactlyOnce(stored: readonly CallPayload[], expected: readonly string[]): void {
  const copies = new Map<string, number>();
  for (const c of stored) copies.set(c.callDetails.callId, (copies.get(c.callDetails.callId) ?? 0) + 1);
  const repeated = [...copies].filter(([, n]) => n > 1);
  assert.deepEqual(repeated, [], 'no callId stored more than once');
  assert.deepEqual([...copies.keys()].sort(), [...expected].sort(), 'every call stored, and only those');
}

describe('exactly once against a CRM that ignores Idempotency-Key (SQLite, bulk)', () => {
  const N = 1_000;
  const KILLS = 8;
  let set: GeneratedSet;
  const bulkArgs = (...extra: string[]): string[] => ['bulk', set.conversationsDir, '--leads', set.leadsDir, '--recordings', set.recordingsDir, '--no-progress', ...extra];

  test(`${N} calls, SIGKILL ${KILLS} times at random moments, ${LOST_ANSWER_RATE * 100}% of answers lost: every callId stored once`, { timeout: 240_000 }, async (t) => {
    set = generateCalls(tempDir('crm-e2e-once-'), { count: N, recordingEvery: 100 });
    const crm = await startTestCrm({ ignoreIdempotency: true, lostAnswerRate: LOST_ANSWER_RATE, seed: 19 });
    t.after(() => crm.close());
    const admin = crmAdmin(crm.url);
    // A short request timeout keeps the leases a killed run leaves behind short (2 × timeout), and long
    // enough that a listing on a busy machine answers in time (one that fails falls back to sending).
    const env = cliEnv(crm.callDataUrl, { CRM_TIMEOUT_MS: '2000', CRM_RETRY_SCHEDULE: '50ms,100ms,200ms', CRM_MAX_ATTEMPTS: '10' });
    const random = seeded(19);
    const started = Date.now();

    const killedAt: number[] = [];
    for (let k = 1; k <= KILLS; k++) {
      const before = (await admin.stats()).created;
      const more = 10 + Math.floor(random() * 40);
      const child = startCli(bulkArgs('--concurrency', '8', '--json'), env);
      const exited = finished(child);
      await waitFor(`run ${k}: ${more} more calls stored`, async () => ((await admin.stats()).created >= before + more || child.exitCode !== null ? true : undefined), 60_000, 5);
      child.kill('SIGKILL');
      const run = await exited;
      assert.equal(run.signal, 'SIGKILL', `run ${k} was killed, not finished: ${run.stderr}`);
      killedAt.push((await admin.stats()).created);
    }
    assert.ok((killedAt.at(-1) ?? N) < N, `killed mid-way each time (stored at each kill: ${killedAt.join(', ')})`);

    const last = await runCli(bulkArgs('--concurrency', '8', '--json'), env, 120_000);
    assert.equal(last.code, 0, last.stderr);
    const summary = lastJson<{ success: number; skipped: number; dead: number; pending: number }>(last);
    assert.equal(summary.success + summary.skipped, N, JSON.stringify(summary));
    assert.deepEqual([summary.dead, summary.pending], [0, 0]);

    const side = await crmSide(admin, crm.url);
    assertExactlyOnce(side.stored, set.calls.map((c) => c.callId));
    assert.deepEqual(side.duplicates, []);
    assert.ok(side.lostAnswers > 0, 'answers were lost');
    assert.ok(side.gets >= side.lostAnswers, `every lost answer was followed by a listing (${side.gets} GETs, ${side.lostAnswers} lost answers)`);
    t.diagnostic(
      `SQLite bulk: ${KILLS} SIGKILLs (stored at each: ${killedAt.join(', ')}); ${side.stored.length} records for ${N} calls, ` +
        `${side.duplicates.length} duplicates; ${side.posts} call-data POSTs, ${side.gets} listings, ${side.lostAnswers} answers lost; ${Date.now() - started} ms`,
    );
  });

  test('the same CRM with CRM_VERIFY_BEFORE_RESEND=never holds duplicates (what the check prevents)', { timeout: 120_000 }, async (t) => {
    const small = generateCalls(tempDir('crm-e2e-never-'), { count: 200, recordingEvery: 0 });
    const crm = await startTestCrm({ ignoreIdempotency: true, lostAnswerRate: LOST_ANSWER_RATE, seed: 19 });
    t.after(() => crm.close());
    const env = cliEnv(crm.callDataUrl, { CRM_RETRY_SCHEDULE: '50ms,100ms,200ms', CRM_MAX_ATTEMPTS: '10', CRM_VERIFY_BEFORE_RESEND: 'never' });
    const r = await runCli(['bulk', small.conversationsDir, '--leads', small.leadsDir, '--no-progress', '--json'], env, 100_000);
    assert.equal(r.code, 0, r.stderr);
    const side = await crmSide(crmAdmin(crm.url), crm.url);
    assert.ok(side.lostAnswers > 0);
    assert.equal(side.gets, 0, 'never asked');
    assert.ok(side.duplicates.length > 0);
    assert.equal(side.stored.length, 200 + side.lostAnswers, 'each lost answer became one more record');
    assert.equal(side.duplicates.reduce((n, d) => n + d.count - 1, 0), side.lostAnswers);
    t.diagnostic(`never: ${side.lostAnswers} answers lost → ${side.duplicates.length} duplicates among ${side.stored.length} records`);
  });
});

const redisSkip = await redisSkipReason();

describe('exactly once against a CRM that ignores Idempotency-Key (BullMQ, 3 workers)', { skip: redisSkip ?? false }, () => {
  test('1,000 calls, 3 worker processes, one killed with SIGKILL mid-run, 5% of answers lost: every callId stored once', { timeout: 180_000 }, async (t) => {
    const crm = await spawnLocalCrmProcess(['--ignore-idempotency', '--lost-answer-rate', String(LOST_ANSWER_RATE), '--seed', '19']);
    const { url, prefix } = redisOutboxUrl('exactly-once');
    const store = await openBullmqOutbox(url, { warn: () => undefined });
    const workers: Child[] = [];
    t.after(async () => {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exited));
      await store.close();
      await dropPrefix(prefix);
      await crm.stop();
    });
    const admin = crmAdmin(crm.url);
    const N = 1_000;
    const items: NewOutboxItem[] = Array.from({ length: N }, (_, k) => {
      const payload = makePayload(19_000 + k);
      return { callId: payload.callDetails.callId, payload, recordingPath: null, sourceFile: null };
    });
    const env = {
      CRM_OUTBOX: url,
      CRM_API_URL: `${crm.url}${CALL_DATA}`,
      CRM_UPLOAD_URL: `${crm.url}/apis/api/public/upload`,
      // Long enough that a listing on a busy machine answers in time (one that fails falls back to sending).
      CRM_TIMEOUT_MS: '2s',
      CRM_RETRY_SCHEDULE: '50ms,100ms,200ms',
      CRM_MAX_ATTEMPTS: '10',
      CRM_CONCURRENCY: '8',
      CRM_RATE_LIMIT: '0',
      LOG_LEVEL: 'error',
    };
    const started = Date.now();
    for (let i = 0; i < 3; i++) workers.push(spawnNode(CLI_MAIN, ['worker'], env));
    await waitFor('3 workers on the queue', async () => ((await store.workers()) >= 3 ? true : undefined), 30_000, 50);
    for (let i = 0; i < N; i += 200) await store.enqueueMany(items.slice(i, i + 200));

    await waitFor('300 calls stored', async () => ((await admin.stats()).created >= 300 ? true : undefined), 60_000, 10);
    const victim = workers[0] as Child;
    victim.child.kill('SIGKILL');
    assert.equal((await victim.exited).signal, 'SIGKILL');
    const atKill = (await admin.stats()).created;
    assert.ok(atKill < N, `killed mid-run (${atKill} stored)`);

    // Its leases (2 × CRM_TIMEOUT_MS) expire; BullMQ's stalled check hands its jobs to the other two.
    await waitFor(`${N} delivered`, async () => ((await store.counts()).delivered === N ? true : undefined), 120_000, 100);
    for (const w of workers.slice(1)) w.child.kill('SIGTERM');
    for (const w of workers.slice(1)) assert.equal((await w.exited).code, 0, w.stderr());

    const counts = await store.counts();
    assert.deepEqual([counts.delivered, counts.dead, counts.pending, counts.in_flight], [N, 0, 0, 0]);
    const side = await crmSide(admin, crm.url);
    assertExactlyOnce(side.stored, items.map((i) => i.callId));
    assert.deepEqual(side.duplicates, []);
    assert.ok(side.lostAnswers > 0, 'answers were lost');
    assert.ok(side.gets >= side.lostAnswers, `every lost answer was followed by a listing (${side.gets} GETs, ${side.lostAnswers} lost answers)`);
    t.diagnostic(
      `BullMQ: 3 workers, one SIGKILLed at ${atKill} stored; ${side.stored.length} records for ${N} calls, ${side.duplicates.length} duplicates; ` +
        `${side.posts} call-data POSTs, ${side.gets} listings, ${side.lostAnswers} answers lost; ${Date.now() - started} ms`,
    );
  });
});
