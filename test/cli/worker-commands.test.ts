/**
 * The CLI of the delivery side: `worker`, `status`, `dead-letter list|replay` against a real outbox
 * file and a local CRM — output channels (machine output on stdout only) and exit codes 0/1/2.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { cliEnv, runCli } from '../worker/child.ts';
import { items, tempDir } from '../worker/harness.ts';

describe('worker, status and dead-letter commands', () => {
  let crm: LocalCrm;
  let env: Record<string, string>;
  let dbPath: string;
  let cleanup: () => void;
  const list = items(4, 700);
  const [ok1, , bad1, bad2] = list.map((i) => i.callId);

  test.before(async () => {
    crm = await startTestCrm();
    const dir = tempDir();
    cleanup = dir.cleanup;
    dbPath = `${dir.dir}/outbox.db`;
    env = cliEnv(dbPath, crm.url);
    const store = openSqliteOutbox(dbPath);
    await store.enqueueMany(list);
    await store.close();
  });
  test.after(async () => {
    await crm.close();
    cleanup();
  });

  test('status --json before delivery: all pending, due now', async () => {
    const r = await runCli(['status', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(
      { ...json, nextAttemptAt: typeof json.nextAttemptAt, oldestPendingAt: typeof json.oldestPendingAt },
      { pending: 4, in_flight: 0, delivered: 0, dead: 0, nextAttemptAt: 'string', oldestPendingAt: 'string' },
    );
    assert.ok(Date.parse(String(json.oldestPendingAt)) <= Date.now(), 'the oldest pending call was enqueued before now');
  });

  test('worker --once: exit 1 when calls went dead, with a summary on stderr only', async () => {
    await crmAdmin(crm.url).faults({ forceStatus: [{ status: 400, callId: bad1, message: 'bad caller' }, { status: 404, callId: bad2 }] });
    const r = await runCli(['worker', '--once', '--concurrency', '2'], env);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /2 delivered.*2 dead/);
    await crmAdmin(crm.url).faults({ forceStatus: null });
  });

  test('status (people) and dead-letter list (people and --json)', async () => {
    const human = await runCli(['status'], env);
    assert.equal(human.code, 0);
    assert.equal(human.stdout, '');
    assert.match(human.stderr, /pending 0 · in_flight 0 · delivered 2 · dead 2/);

    const listed = await runCli(['dead-letter', 'list', '--json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const dead = JSON.parse(listed.stdout) as { callId: string; attempts: number; lastStatus: number; lastError: string; sourceFile: string }[];
    assert.deepEqual(dead.map((d) => d.callId).sort(), [bad1, bad2].sort());
    const first = dead.find((d) => d.callId === bad1);
    assert.equal(first?.lastStatus, 400);
    assert.match(first?.lastError ?? '', /bad caller/);
    assert.equal(first?.sourceFile, '/data/call-702.json');

    const people = await runCli(['dead-letter', 'list'], env);
    assert.equal(people.stdout, '');
    assert.match(people.stderr, new RegExp(`${bad1}.*status 400`));
  });

  test('dead-letter replay: usage errors exit 2, unknown or not-dead ids exit 1', async () => {
    assert.equal((await runCli(['dead-letter', 'replay'], env)).code, 2);
    assert.equal((await runCli(['dead-letter', 'replay', bad1 ?? '', '--all'], env)).code, 2);
    const notDead = await runCli(['dead-letter', 'replay', ok1 ?? '', 'CALL-NOPE'], env);
    assert.equal(notDead.code, 1);
    assert.match(notDead.stderr, /is delivered/);
    assert.match(notDead.stderr, /CALL-NOPE is not in the outbox/);
  });

  test('dead-letter replay --all, then worker --once delivers them: exit 0', async () => {
    const replayed = await runCli(['dead-letter', 'replay', '--all'], env);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.match(replayed.stderr, /replayed 2/);
    const r = await runCli(['worker', '--once'], env);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as Record<string, unknown>;
    assert.deepEqual(status, { pending: 0, in_flight: 0, delivered: 4, dead: 0, nextAttemptAt: null, oldestPendingAt: null });
    assert.equal((await crmAdmin(crm.url).calls()).length, 4);
  });

  test('worker: a bad --concurrency is a usage error (exit 2)', async () => {
    const r = await runCli(['worker', '--once', '--concurrency', 'lots'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--concurrency/);
  });

  test('a bad CRM_RETRY_SCHEDULE is a configuration error naming the variable (exit 2)', async () => {
    const r = await runCli(['worker', '--once'], { ...env, CRM_RETRY_SCHEDULE: 'soon' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CRM_RETRY_SCHEDULE/);
  });
});
