/**
 * Distributed delivery (issue 7): several `crm-upload worker` processes on one BullMQ queue against the
 * local CRM, in its own process. Each callId reaches the CRM once; the rate limit holds across all the
 * workers together; a worker killed with SIGKILL leaves nothing behind; a 429's Retry-After pauses every
 * worker; a 400 goes to the shared dead-letter list and a replay delivers it once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openBullmqOutbox, type BullmqOutboxStore } from '../../src/outbox/bullmq-store.ts';
import type { NewOutboxItem } from '../../src/outbox/outbox-store.ts';
import { idempotencyKey } from '../../src/crm/idempotency.ts';
import { crmAdmin, spawnLocalCrmProcess, type LocalCrmProcess, type RequestRecord } from '../helpers/local-crm.ts';
import { assertValidPayload, makePayload } from '../helpers/payloads.ts';
import { dropPrefix, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { CLI_MAIN, runCli, spawnNode, type Child } from '../worker/child.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { CATCH_UP_MS, pacingIntervalMs } from '../../src/pacing/pacer.ts';
import { PAUSE_POLL_MS } from '../../src/pacing/redis-pacer.ts';

const skip = await redisSkipReason();
const CALL_DATA = '/apis/api/public/call-data';

/** `count` calls, numbered from `first`. */
function calls(count: number, first = 0): NewOutboxItem[] {
  return Array.from({ length: count }, (_, k) => {
    const payload = makePayload(first + k);
    return { callId: payload.callDetails.callId, payload, recordingPath: null, sourceFile: null };
  });
}

/** The env of a worker process on `outbox` delivering to `crm`. */
function workerEnv(outbox: string, crm: LocalCrmProcess, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CRM_OUTBOX: outbox,
    CRM_API_URL: `${crm.url}${CALL_DATA}`,
    CRM_UPLOAD_URL: `${crm.url}/apis/api/public/upload`,
    CRM_TIMEOUT_MS: '1s',
    CRM_RETRY_SCHEDULE: '50ms,100ms,200ms',
    CRM_CONCURRENCY: '8',
    CRM_RATE_LIMIT: '0',
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'error',
    ...extra,
  };
}

/** Wait until `check` holds, polling; fails with `what` after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  await waitFor(what, check, ms, 50);
}

/** Call-data POSTs by callId. */
function postsByCall(requests: readonly RequestRecord[]): Map<string, RequestRecord[]> {
  const out = new Map<string, RequestRecord[]>();
  for (const r of requests) {
    if (r.method !== 'POST' || r.path !== CALL_DATA || r.callId === null) continue;
    out.set(r.callId, [...(out.get(r.callId) ?? []), r]);
  }
  return out;
}

/**
 * The most requests that arrived within any window of `windowMs`, from the CRM's own log. A window of a
 * few seconds, not one: the arrival of each granted request at the CRM jitters by some milliseconds on a
 * shared 2-core machine, which the pacer's 2% headroom absorbs over seconds but not at every boundary of
 * a single one (the grants themselves are held to ⌊1000 / interval⌋ + 1 per second: test/pacing).
 */
function densest(requests: readonly RequestRecord[], windowMs: number): number {
  const times = requests.map((r) => Date.parse(r.time)).sort((a, b) => a - b);
  let most = 0;
  for (let from = 0, to = 0; to < times.length; to++) {
    while ((times[to] ?? 0) - (times[from] ?? 0) >= windowMs) from++;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

describe('BullMQ: several worker processes on one queue', { skip: skip ?? false }, () => {
  let crm: LocalCrmProcess;
  const prefixes: string[] = [];
  const children: Child[] = [];

  before(async () => {
    crm = await spawnLocalCrmProcess(['--latency-ms', '10']);
  });
  /** Kill whatever worker is still running, so that a failed test never delivers into the next one's CRM. */
  function killRunning(): void {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  }
  after(async () => {
    killRunning();
    await crm?.stop();
    for (const p of prefixes) await dropPrefix(p);
  });

  /** A fresh queue, and the store (which never leases) to feed and watch it through. */
  async function freshQueue(): Promise<{ url: string; store: BullmqOutboxStore }> {
    const { url, prefix } = redisOutboxUrl('workers');
    prefixes.push(prefix);
    return { url, store: await openBullmqOutbox(url, { warn: () => undefined }) };
  }

  async function enqueue(store: BullmqOutboxStore, items: NewOutboxItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += 100) await store.enqueueMany(items.slice(i, i + 100));
  }

  /** Start `n` workers and wait until each one leases from the queue, so that all of them take part. */
  async function startWorkers(store: BullmqOutboxStore, n: number, env: Record<string, string>): Promise<Child[]> {
    const started = Array.from({ length: n }, () => spawnNode(CLI_MAIN, ['worker'], env));
    children.push(...started);
    await until(`${n} workers on the queue`, 20_000, async () => (await store.workers()) >= n);
    return started;
  }

  async function stopAll(workers: readonly Child[]): Promise<void> {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    const ends = await Promise.all(workers.map((w) => w.exited));
    for (const [i, e] of ends.entries()) {
      if (e.signal !== 'SIGKILL') assert.equal(e.code, 0, `worker ${i}: ${workers[i]?.stderr()}`);
    }
  }

  test('three workers deliver 500 calls, each once, and together keep to CRM_RATE_LIMIT', { timeout: 240_000 }, async () => {
    const admin = crmAdmin(crm.url);
    await admin.reset();
    const { url, store } = await freshQueue();
    const limitPerMin = 6000; // 100 requests per second across all three
    const workers = await startWorkers(store, 3, workerEnv(url, crm, { CRM_RATE_LIMIT: String(limitPerMin) }));
    try {
      await enqueue(store, calls(500));
      // A bound for a hang, not a speed: on a loaded 2-core machine five processes share the cores.
      await until('500 delivered', 180_000, async () => (await store.counts()).delivered === 500);
      await stopAll(workers);
      const stored = await admin.calls();
      assert.equal(stored.length, 500);
      assert.equal(new Set(stored.map((c) => c.callDetails.callId)).size, 500, 'each callId once');
      for (const c of stored.slice(0, 20)) assertValidPayload(c);
      const requests = await admin.requests();
      const posts = postsByCall(requests);
      assert.equal(posts.size, 500);
      // The shared pacer grants at most ⌊(W + CATCH_UP_MS) / interval⌋ + 1 requests in any W ms (pacer.ts);
      // on their way to the CRM, at most the requests in flight at once (3 workers × CRM_CONCURRENCY 8) can
      // arrive bunched. Three unshared pacers would let 3× the limit through, no pacer all 500 at once.
      const interval = pacingIntervalMs(limitPerMin);
      const bound = Math.floor((4_000 + CATCH_UP_MS) / interval) + 1 + 3 * 8;
      const inFourSeconds = densest(requests, 4_000);
      assert.ok(inFourSeconds <= bound, `the CRM saw ${inFourSeconds} requests within 4 s (at most ${bound} across all workers at ${limitPerMin}/min)`);
      // That they share one limit is test/pacing/redis-pacer.test.ts's ("three pacers on one key share one
      // limit"); how fast three workers go together is bench/bullmq.ts's figure, not a test's.
      // Every worker took part: the shared queue spread the work.
      const counts = await store.counts();
      assert.deepEqual({ ...counts, nextAttemptAt: null }, { pending: 0, in_flight: 0, delivered: 500, dead: 0, nextAttemptAt: null, oldestPendingAt: null });
    } finally {
      killRunning();
      await store.close();
    }
  });

  test('a worker killed with SIGKILL mid-run: its jobs are recovered, each callId delivered once, repeats under the same key', { timeout: 240_000 }, async () => {
    const admin = crmAdmin(crm.url);
    await admin.reset();
    await admin.faults({ latencyMs: 30 });
    const { url, store } = await freshQueue();
    // 3 × 4 deliveries at once, 30 ms each: a few seconds of work, with calls in flight when one dies.
    const workers = await startWorkers(store, 3, workerEnv(url, crm, { CRM_CONCURRENCY: '4' }));
    try {
      await enqueue(store, calls(500, 1_000));
      await until('150 delivered', 30_000, async () => (await store.counts()).delivered >= 150);
      const victim = workers[0] as Child;
      victim.child.kill('SIGKILL');
      const { signal } = await victim.exited;
      assert.equal(signal, 'SIGKILL');
      const atKill = await store.counts();
      assert.ok(atKill.delivered < 500, 'killed mid-run');
      // Its leases (2 × CRM_TIMEOUT_MS) expire and the stalled-job check hands them to the others.
      await until('500 delivered after the kill', 180_000, async () => (await store.counts()).delivered === 500);
      await stopAll(workers.slice(1));
      const stored = await admin.calls();
      assert.equal(stored.length, 500);
      assert.equal(new Set(stored.map((c) => c.callDetails.callId)).size, 500, 'each callId once');
      const posts = postsByCall(await admin.requests());
      assert.equal(posts.size, 500);
      for (const [callId, records] of posts) {
        const keys = new Set(records.map((r) => r.idempotencyKey));
        assert.deepEqual([...keys], [idempotencyKey(callId, 'call-data')], `${callId}: one Idempotency-Key on every POST`);
      }
      assert.equal((await admin.stats()).conflicts, 0, 'no repeat came under another key');
    } finally {
      killRunning();
      await admin.faults({ latencyMs: 10 });
      await store.close();
    }
  });

  test('a 429 with Retry-After pauses every worker, and uses up no attempt', { timeout: 60_000 }, async () => {
    const admin = crmAdmin(crm.url);
    await admin.reset();
    const items = calls(60, 2_000);
    const { url, store } = await freshQueue();
    // One attempt only: a rate-limited answer that cost an attempt would put the call in dead-letter.
    const workers = await startWorkers(store, 3, workerEnv(url, crm, { CRM_MAX_ATTEMPTS: '1', CRM_CONCURRENCY: '4' }));
    try {
      // The CRM's first answers: 429 with Retry-After: 1.
      await admin.faults({ forceStatus: { status: 429, retryAfterS: 1, count: 3, message: 'Too many requests' } });
      await enqueue(store, items);
      await until('60 delivered', 30_000, async () => (await store.counts()).delivered === 60);
      await stopAll(workers);
      const counts = await store.counts();
      assert.equal(counts.dead, 0);
      for (const item of items) {
        const got = await store.get(item.callId);
        assert.equal(got?.attempts, 1, `${item.callId}: ${got?.attempts} attempts`);
      }
      const requests = (await admin.requests()).sort((a, b) => a.seq - b.seq);
      const limited = requests.filter((r) => r.status === 429);
      assert.ok(limited.length >= 1);
      // After the first 429, no worker sends anything until its Retry-After is over. With pacing off, the
      // other processes learn of the hold at their next look at Redis, at most PAUSE_POLL_MS later
      // (docs/architecture.md, "Rate limit"), so the 100 ms after the 429 may still see their requests;
      // after that (and 200 ms of slack for a busy machine's round trip), only what was already past the pacer arrives, at most one
      // request per slot (3 workers × 4), however late a busy machine lets it arrive. Without the pause,
      // 12 slots at 10 ms would send hundreds in that second.
      const first = Date.parse((limited[0] as RequestRecord).time);
      const informed = first + PAUSE_POLL_MS + 200;
      const inPause = requests.filter((r) => r.seq > (limited[0] as RequestRecord).seq && Date.parse(r.time) > informed && Date.parse(r.time) < first + 1_000 - 10);
      assert.ok(inPause.length <= 3 * 4, `requests during the pause: ${inPause.map((r) => `${r.status} at +${Date.parse(r.time) - first} ms`).join(', ')}`);
      assert.ok(limited.length <= 3 * 4 * 3, `${limited.length} 429s: the workers did not hammer the CRM`);
      const stored = await admin.calls();
      assert.equal(new Set(stored.map((c) => c.callDetails.callId)).size, 60);
    } finally {
      killRunning();
      await store.close();
    }
  });

  test('a 400 lands in the shared dead-letter list; a replay delivers it once', { timeout: 60_000 }, async () => {
    const admin = crmAdmin(crm.url);
    await admin.reset();
    const items = calls(10, 3_000);
    const bad = (items[3] as NewOutboxItem).callId;
    await admin.faults({ forceStatus: { status: 400, callId: bad, count: 1, message: 'campaign is closed' } });
    const { url, store } = await freshQueue();
    const env = workerEnv(url, crm);
    try {
      await enqueue(store, items);
      const once = await runCli(['worker', '--once'], env);
      assert.equal(once.code, 1, `dead calls make worker --once exit 1: ${once.stderr}`);
      const list = await runCli(['dead-letter', 'list', '--json'], env);
      assert.equal(list.code, 0, list.stderr);
      const dead = JSON.parse(list.stdout) as { callId: string; lastStatus: number; lastError: string }[];
      assert.deepEqual(dead.map((d) => [d.callId, d.lastStatus]), [[bad, 400]]);
      assert.match(dead[0]?.lastError ?? '', /campaign is closed/);
      assert.equal((await admin.calls()).length, 9);

      const replay = await runCli(['dead-letter', 'replay', bad], env);
      assert.equal(replay.code, 0, replay.stderr);
      const again = await runCli(['worker', '--once'], env);
      assert.equal(again.code, 0, again.stderr);
      const stored = await admin.calls();
      assert.equal(stored.length, 10);
      const posts = postsByCall(await admin.requests()).get(bad) ?? [];
      assert.deepEqual(posts.map((p) => p.status), [400, 201], 'refused once, then delivered once');
      const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as Record<string, unknown>;
      assert.deepEqual([status.delivered, status.dead, status.pending, status.workers], [10, 0, 0, 0]);
    } finally {
      killRunning();
      await store.close();
    }
  });

  test('bulk and send on a BullMQ outbox: every fixture call delivered once, a re-run sends nothing', { timeout: 60_000 }, async () => {
    const admin = crmAdmin(crm.url);
    await admin.reset();
    const { url, store } = await freshQueue();
    const FIX = FIXTURES;
    const env = {
      ...workerEnv(url, crm),
      CRM_CAMPAIGN_ID: 'camp-e2e',
      CRM_VOICE_AGENT_ID: 'agent-e2e',
      CRM_CLIENT_ID: 'client-e2e',
      CRM_SOURCE_TIMEZONE: 'Asia/Kolkata',
    };
    const args = ['bulk', `${FIX}conversations`, '--leads', `${FIX}leads`, '--recordings', `${FIX}recordings`, '--manifests', `${FIX}call_metadata`, '--json', '--no-progress'];
    try {
      const first = await runCli(args, env);
      assert.equal(first.code, 0, first.stderr);
      const s1 = JSON.parse(first.stdout.trim().split('\n').pop() ?? '{}') as { success: number; skipped: number; total: number };
      assert.deepEqual([s1.success, s1.skipped, s1.total], [5, 0, 5]);
      const stored = await admin.calls();
      assert.equal(stored.length, 5);
      for (const c of stored) assertValidPayload(c);
      assert.equal((await admin.stats()).uploads, 1, 'the manifest call uploaded its recording once');
      const before = (await admin.requests()).length;
      const second = await runCli(args, env);
      assert.equal(second.code, 0, second.stderr);
      const s2 = JSON.parse(second.stdout.trim().split('\n').pop() ?? '{}') as { success: number; skipped: number };
      assert.deepEqual([s2.success, s2.skipped], [0, 5]);
      const resend = await runCli(['send', `${FIX}conversations/legacy/conversation_20251007_164256.json`], env);
      assert.equal(resend.code, 0, resend.stderr);
      assert.match(resend.stderr, /already in the outbox/);
      assert.equal((await admin.requests()).length, before, 'the re-runs sent nothing');
    } finally {
      killRunning();
      await store.close();
    }
  });
});
