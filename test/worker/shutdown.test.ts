/**
 * Shutdown: SIGTERM to a `crm-upload worker` during delivery lets in-flight requests finish, exits 0
 * within the grace period and loses nothing; a second run delivers the rest. In-process, requests that
 * outlive the grace period are aborted and their items released untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { CLI_MAIN, cliEnv, runCli, spawnNode } from './child.ts';
import { items, setup, testConfig } from './harness.ts';


test('SIGTERM during delivery: the requests in flight finish, exit 0, nothing lost', { timeout: 40_000 }, async (t) => {
  const crm = await startTestCrm({ latencyMs: 150 });
  const h = setup(crm.url, testConfig());
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const admin = crmAdmin(crm.url);
  const list = items(40);
  await h.store.enqueueMany(list);
  const env = cliEnv(h.dbPath, crm.url, { CRM_CONCURRENCY: '4' });

  const worker = spawnNode(CLI_MAIN, ['worker'], env);
  while ((await admin.stats()).callDataPosts < 6) {
    assert.equal(worker.child.exitCode, null, `worker ended early: ${worker.stderr()}`);
    await sleep(20);
  }
  worker.child.kill('SIGTERM');
  const { code, signal } = await worker.exited;
  assert.equal(signal, null);
  assert.equal(code, 0, worker.stderr());

  const counts = await h.store.counts();
  assert.equal(counts.in_flight, 0, 'nothing left leased');
  assert.equal(counts.dead, 0);
  assert.equal(counts.delivered + counts.pending, list.length);
  assert.ok(counts.pending > 0, 'stopped mid-run');
  // Every call the CRM stored is recorded as delivered: the in-flight requests finished and were settled.
  const stored = new Set((await admin.calls()).map((c) => c.callDetails.callId));
  const states = await h.store.states(list.map((i) => i.callId));
  for (const id of stored) assert.equal(states.get(id), 'delivered', `${id} reached the CRM but is ${states.get(id)}`);
  assert.equal(stored.size, counts.delivered);

  const rest = await runCli(['worker', '--once', '--concurrency', '16'], env);
  assert.equal(rest.code, 0, rest.stderr);
  const final = await h.store.counts();
  assert.equal(final.delivered, list.length);
  assert.equal((await admin.calls()).length, list.length);
  assert.equal((await admin.stats()).callDataPosts, list.length, 'nothing was sent twice');
});

test('stop(): requests that outlive the grace period are aborted and released untouched', { timeout: 10_000 }, async (t) => {
  const crm = await startTestCrm({ hangRate: 1 });
  const config = testConfig({ timeoutMs: 5_000, concurrency: 4 });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const list = items(10);
  await h.store.enqueueMany(list);
  const handle = startWorker({ store: h.store, client: h.client, config, graceMs: 200 });
  // Hung requests never reach the call-data handler, so count arrivals.
  while ((await crmAdmin(crm.url).stats()).requests < 4) await sleep(10);
  const leased = (await h.store.counts()).in_flight;

  await handle.stop();
  const summary = await handle.done;
  // Aborted at the end of the grace period, not waited for until their 5 s timeout (which would have
  // made each a timed-out attempt).
  assert.equal(summary.attempts, 0, 'an aborted request is not an attempt');
  assert.ok(leased >= 4);
  assert.equal(summary.released, leased, 'the four in flight and those leased ahead of a free slot');
  const counts = await h.store.counts();
  assert.equal(counts.pending, 10);
  assert.equal(counts.in_flight, 0);
  for (const id of list.map((i) => i.callId)) assert.equal((await h.store.get(id))?.attempts, 0);
});
