/**
 * The local CRM's faults of issue 19, over real HTTP: a CRM that ignores Idempotency-Key (every POST is
 * a new call, so a repeat is a duplicate that the listing shows) and answers lost after the call was
 * stored (the socket cut instead of the 201); both from the start options, the admin route and the CLI.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCrm } from '../../src/local-crm/server.ts';
import { crmAdmin, spawnLocalCrmProcess, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { samplePayload } from './sample-payload.ts';

async function post(url: string, callId: string, key: string): Promise<{ status: number } | { error: string }> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(samplePayload(callId)) });
    await res.arrayBuffer();
    return { status: res.status };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

async function listed(crm: LocalCrm, callId: string): Promise<unknown[]> {
  const res = await fetch(`${crm.callDataUrl}?callId=${encodeURIComponent(callId)}`);
  return ((await res.json()) as { data: unknown[] }).data;
}

async function duplicates(url: string): Promise<{ callId: string; count: number }[]> {
  return (await (await fetch(`${url}/__admin/duplicates`)).json()) as { callId: string; count: number }[];
}

describe('local CRM: ignoreIdempotency', () => {
  let crm: LocalCrm;
  before(async () => {
    crm = await startTestCrm({ ignoreIdempotency: true });
  });
  after(() => crm.close());
  beforeEach(() => crmAdmin(crm.url).reset());

  test('a repeat with the same key is stored again: three records, listed by callId, reported as duplicates', async () => {
    for (let i = 0; i < 3; i++) assert.deepEqual(await post(crm.callDataUrl, 'CALL-DUP-1', 'key-1'), { status: 201 });
    assert.deepEqual(await post(crm.callDataUrl, 'CALL-ONE', 'key-2'), { status: 201 });
    assert.equal((await listed(crm, 'CALL-DUP-1')).length, 3);
    assert.equal((await listed(crm, 'CALL-ONE')).length, 1);
    assert.deepEqual(await duplicates(crm.url), [{ callId: 'CALL-DUP-1', count: 3 }]);
    const stats = await crmAdmin(crm.url).stats();
    assert.equal(stats.created, 4);
    assert.equal(stats.duplicates, 2);
    assert.equal(stats.replays, 0);
    assert.equal(stats.conflicts, 0);
    assert.equal((await crmAdmin(crm.url).calls()).length, 4);
  });

  test('switched off at run time: the same repeat is replayed, not stored; back on: stored again', async () => {
    assert.equal((await crmAdmin(crm.url).faults({ ignoreIdempotency: false })).ignoreIdempotency, false);
    await post(crm.callDataUrl, 'CALL-DUP-2', 'k');
    await post(crm.callDataUrl, 'CALL-DUP-2', 'k');
    assert.equal((await listed(crm, 'CALL-DUP-2')).length, 1);
    assert.equal((await crmAdmin(crm.url).stats()).replays, 1);
    await crmAdmin(crm.url).faults({ ignoreIdempotency: true });
    await post(crm.callDataUrl, 'CALL-DUP-2', 'k');
    assert.deepEqual(await duplicates(crm.url), [{ callId: 'CALL-DUP-2', count: 2 }]);
    // A reset returns to the start options (on).
    await crmAdmin(crm.url).faults({ ignoreIdempotency: false });
    await crmAdmin(crm.url).reset();
    assert.equal((await crmAdmin(crm.url).faults({})).ignoreIdempotency, true);
  });

  test('bad admin values are refused naming the field', async () => {
    await assert.rejects(crmAdmin(crm.url).faults({ ignoreIdempotency: 'yes' as unknown as boolean }), /ignoreIdempotency must be true or false/);
    await assert.rejects(crmAdmin(crm.url).faults({ lostAnswerRate: 2 }), /lostAnswerRate must be a number between 0 and 1/);
  });
});

describe('local CRM: lostAnswerRate', () => {
  test('rate 1: every POST is stored and its connection cut; a retry with the key is then replayed', async () => {
    const crm = await startTestCrm({ lostAnswerRate: 1 });
    try {
      const first = await post(crm.callDataUrl, 'CALL-LOST-1', 'key-lost');
      assert.ok('error' in first, `expected a cut connection, got ${JSON.stringify(first)}`);
      assert.equal((await listed(crm, 'CALL-LOST-1')).length, 1);
      await crmAdmin(crm.url).faults({ lostAnswerRate: 0 });
      assert.deepEqual(await post(crm.callDataUrl, 'CALL-LOST-1', 'key-lost'), { status: 201 });
      const stats = await crmAdmin(crm.url).stats();
      assert.equal(stats.faults.lostAnswer, 1);
      assert.equal(stats.created, 1);
      assert.equal(stats.replays, 1);
      const records = await crmAdmin(crm.url).requests();
      assert.deepEqual(records.filter((r) => r.method === 'POST').map((r) => [r.fault, r.status]), [['lostAnswer', null], [null, 201]]);
    } finally {
      await crm.close();
    }
  });

  test('with ignoreIdempotency the retry of a lost answer is a duplicate (what issue 19 guards against)', async () => {
    const crm = await startTestCrm({ lostAnswerRate: 1, ignoreIdempotency: true });
    try {
      assert.ok('error' in (await post(crm.callDataUrl, 'CALL-LOST-2', 'k')));
      await crmAdmin(crm.url).faults({ lostAnswerRate: 0 });
      assert.deepEqual(await post(crm.callDataUrl, 'CALL-LOST-2', 'k'), { status: 201 });
      assert.deepEqual(await duplicates(crm.url), [{ callId: 'CALL-LOST-2', count: 2 }]);
    } finally {
      await crm.close();
    }
  });

  test('a share of 0.25 over 200 POSTs (seeded) loses some answers and stores every call once', async () => {
    const crm = await startTestCrm({ lostAnswerRate: 0.25, seed: 7 });
    try {
      let lost = 0;
      for (let i = 0; i < 200; i++) if ('error' in (await post(crm.callDataUrl, `CALL-SHARE-${i}`, `k${i}`))) lost++;
      const stats = await crmAdmin(crm.url).stats();
      assert.equal(stats.faults.lostAnswer, lost);
      assert.ok(lost > 20 && lost < 80, `lost ${lost} of 200`);
      assert.equal(stats.created, 200);
    } finally {
      await crm.close();
    }
  });
});

test('copies persist in the data folder and come back on restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'crm-dup-'));
  try {
    const crm = await startLocalCrm({ port: 0, dataDir: dir, ignoreIdempotency: true });
    await post(crm.callDataUrl, 'CALL.PERSIST', 'k');
    await post(crm.callDataUrl, 'CALL.PERSIST', 'k');
    await crm.close();
    const again = await startLocalCrm({ port: 0, dataDir: dir });
    try {
      assert.equal((await listed(again, 'CALL.PERSIST')).length, 2);
      assert.deepEqual(await duplicates(again.url), [{ callId: 'CALL.PERSIST', count: 2 }]);
      assert.equal(await crmAdmin(again.url).deleteCall('CALL.PERSIST'), true);
      assert.deepEqual(await duplicates(again.url), []);
    } finally {
      await again.close();
    }
    const third = await startLocalCrm({ port: 0, dataDir: dir });
    try {
      assert.equal((await listed(third, 'CALL.PERSIST')).length, 0);
    } finally {
      await third.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('CLI: --ignore-idempotency and --lost-answer-rate start the faults; a bad rate exits 2', async () => {
  const server = await spawnLocalCrmProcess(['--ignore-idempotency', '--lost-answer-rate', '0.5']);
  try {
    const state = await crmAdmin(server.url).faults({});
    assert.equal(state.ignoreIdempotency, true);
    assert.equal(state.lostAnswerRate, 0.5);
  } finally {
    await server.stop();
  }
  await assert.rejects(spawnLocalCrmProcess(['--lost-answer-rate', '1.5']), /exited with 2 before listening: .*--lost-answer-rate must be a number from 0 to 1/s);
});
