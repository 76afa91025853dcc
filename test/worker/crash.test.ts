/**
 * Crash: a child enqueues and delivers 200 calls against a local CRM with latency and is killed with
 * SIGKILL at random moments, then restarted. Nothing is lost, nothing is duplicated, and every repeated
 * POST of a call carried the same Idempotency-Key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { idempotencyKey } from '../../src/crm/idempotency.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmAdmin, spawnLocalCrmProcess } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { cliEnv, DELIVER_CHILD, spawnNode } from './child.ts';
import { byCallId, tempDir } from './harness.ts';

const CALLS = 200;
const KILLS = 4;

test('SIGKILL at random moments loses nothing and duplicates nothing', { timeout: 60_000 }, async (t) => {
  const crm = await spawnLocalCrmProcess(['--latency-ms', '50']);
  const { dir, cleanup } = tempDir();
  t.after(async () => {
    await crm.stop();
    cleanup();
  });
  const dbPath = `${dir}/outbox.db`;
  const admin = crmAdmin(crm.url);
  // A 500 ms timeout makes the lease 1 s, so a killed child's items are taken over soon.
  const env = cliEnv(dbPath, crm.url, { CRM_TIMEOUT_MS: '500ms', CRM_CONCURRENCY: '4', CRM_MAX_ATTEMPTS: '50' });

  const killedAt: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    const child = spawnNode(DELIVER_CHILD, [String(CALLS)], env);
    await child.waitFor(/^enqueued$/m);
    const before = (await admin.stats()).callDataPosts;
    await sleep(50 + Math.floor(Math.random() * 300));
    child.child.kill('SIGKILL');
    const { signal } = await child.exited;
    assert.equal(signal, 'SIGKILL', `run ${k} ended before it was killed: ${child.stderr()}`);
    killedAt.push((await admin.stats()).callDataPosts - before);
  }
  // The kills must land mid-delivery for the test to mean anything.
  assert.ok(killedAt.some((n) => n > 0), `no POST before any kill: ${killedAt.join(',')}`);

  const last = spawnNode(DELIVER_CHILD, [String(CALLS)], env);
  const { code } = await last.exited;
  assert.equal(code, 0, `final run failed: ${last.stdout()} ${last.stderr()}`);

  const calls = await admin.calls();
  const ids = new Set(calls.map((c) => c.callDetails.callId));
  assert.equal(calls.length, CALLS);
  assert.equal(ids.size, CALLS);
  const expected = new Map(Array.from({ length: CALLS }, (_, i) => makePayload(i)).map((p) => [p.callDetails.callId, p]));
  for (const stored of calls) assert.deepEqual(stored, expected.get(stored.callDetails.callId));

  const posts = (await admin.requests()).filter((r) => r.method === 'POST' && r.path.endsWith('/call-data'));
  for (const [callId, records] of byCallId(posts)) {
    const keys = new Set(records.map((r) => r.idempotencyKey));
    assert.deepEqual([...keys], [idempotencyKey(callId, 'call-data')], `${callId} was sent under ${[...keys].join(', ')}`);
  }

  const store = openSqliteOutbox(dbPath);
  t.after(() => store.close());
  const counts = await store.counts();
  assert.deepEqual({ ...counts, nextAttemptAt: null }, { pending: 0, in_flight: 0, delivered: CALLS, dead: 0, nextAttemptAt: null, oldestPendingAt: null });
  t.diagnostic(`POSTs before each kill: ${killedAt.join(', ')}; total POSTs ${posts.length} for ${CALLS} calls`);
});
