/**
 * Dead-letter: a 400 goes dead at once with the CRM's message; a replay after the fault is fixed sends
 * it once more (same key) and it is delivered. Driven through the store API, and once through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idempotencyKey } from '../../src/crm/idempotency.ts';
import { startWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { cliEnv, runCli } from './child.ts';
import { items, setup, testConfig } from './harness.ts';

const MESSAGE = 'callerNumber must be in E.164 format';

test('a 400 is dead at once with the CRM message; replay sends it once more', { timeout: 30_000 }, async (t) => {
  const crm = await startTestCrm();
  const config = testConfig({ maxAttempts: 10 });
  const h = setup(crm.url, config);
  t.after(async () => {
    await h.close();
    await crm.close();
  });
  const admin = crmAdmin(crm.url);
  const list = items(3);
  const [bad, viaCli] = [list[0]?.callId ?? '', list[1]?.callId ?? ''];
  await admin.faults({ forceStatus: [{ status: 400, callId: bad, message: MESSAGE }, { status: 422, callId: viaCli, message: 'lead.email is invalid' }] });
  await h.store.enqueueMany(list);

  const first = await startWorker({ store: h.store, client: h.client, config, once: true }).done;
  assert.equal(first.dead, 2);
  assert.equal(first.delivered, 1);
  const dead = await h.store.get(bad);
  assert.equal(dead?.state, 'dead');
  assert.equal(dead?.attempts, 1);
  assert.equal(dead?.lastStatus, 400);
  assert.match(dead?.lastError ?? '', new RegExp(MESSAGE));
  const postsOf = async (callId: string) => (await admin.requests()).filter((r) => r.method === 'POST' && r.callId === callId);
  assert.equal((await postsOf(bad)).length, 1, 'a 400 is not retried');

  // Fixed on the CRM side; replay through the store API.
  await admin.faults({ forceStatus: null });
  assert.equal(await h.store.replay([bad]), 1);
  const second = await startWorker({ store: h.store, client: h.client, config, once: true }).done;
  assert.equal(second.delivered, 1, 'only the replayed item is sent');
  assert.equal((await h.store.get(bad))?.state, 'delivered');
  const badPosts = await postsOf(bad);
  assert.equal(badPosts.length, 2, 'sent exactly once more');
  assert.deepEqual(new Set(badPosts.map((r) => r.idempotencyKey)), new Set([idempotencyKey(bad, 'call-data')]));

  // The other one through the CLI: list, replay, deliver.
  const env = cliEnv(h.dbPath, crm.url);
  const listed = await runCli(['dead-letter', 'list', '--json'], env);
  assert.equal(listed.code, 0, listed.stderr);
  const lines = JSON.parse(listed.stdout) as { callId: string; attempts: number; lastStatus: number; lastError: string; sourceFile: string }[];
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.callId, viaCli);
  assert.equal(lines[0]?.lastStatus, 422);
  assert.equal(lines[0]?.attempts, 1);
  assert.match(lines[0]?.lastError ?? '', /lead\.email is invalid/);
  assert.equal(lines[0]?.sourceFile, '/data/call-1.json');

  const replayed = await runCli(['dead-letter', 'replay', viaCli], env);
  assert.equal(replayed.code, 0, replayed.stderr);
  assert.match(replayed.stderr, /replayed 1/);
  const worker = await runCli(['worker', '--once'], env);
  assert.equal(worker.code, 0, worker.stderr);
  assert.equal((await h.store.get(viaCli))?.state, 'delivered');
  assert.equal((await postsOf(viaCli)).length, 2);
  assert.equal((await admin.calls()).length, 3);
});
