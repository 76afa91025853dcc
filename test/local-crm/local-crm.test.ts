/**
 * The local CRM on its own, over real HTTP: endpoints, admin routes, faults, persistence and the CLI.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifyOutcome } from '../../src/crm/classify-outcome.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { crmAdmin, spawnLocalCrmProcess, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { contractValidator, samplePayload } from './sample-payload.ts';
import { OGG_RECORDING } from '../helpers/fixtures.ts';

const RECORDING = OGG_RECORDING;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function post(url: string, payload: unknown, key?: string): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(payload) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function upload(url: string, key?: string, field = 'file'): Promise<Answer> {
  const form = new FormData();
  form.append(field, await openAsBlob(RECORDING, { type: 'audio/ogg' }), 'number-_919999900001-1761745857.ogg');
  const res = await fetch(url, { method: 'POST', headers: key === undefined ? {} : { 'idempotency-key': key }, body: form });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function get(url: string): Promise<Answer> {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

function asResult(a: Answer): Parameters<typeof classifyOutcome>[0] {
  return { kind: 'response', status: a.status, headers: Object.fromEntries(a.headers), body: a.body, durationMs: 0 };
}

describe('local CRM', () => {
  let crm: LocalCrm;
  const admin = (): ReturnType<typeof crmAdmin> => crmAdmin(crm.url);

  before(async () => {
    crm = await startTestCrm({ seed: 42 });
  });
  after(async () => {
    await crm.close();
  });
  beforeEach(async () => {
    await admin().reset();
  });

  test('urls', () => {
    assert.match(crm.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(crm.callDataUrl, `${crm.url}/apis/api/public/call-data`);
    assert.equal(crm.uploadUrl, `${crm.url}/apis/api/public/upload`);
    assert.equal(crm.url, `http://127.0.0.1:${crm.port}`);
  });

  test('two concurrent POSTs of one call with different keys: one 201, one 409', async () => {
    const answers = await Promise.all([post(crm.callDataUrl, samplePayload('C1'), 'k1'), post(crm.callDataUrl, samplePayload('C1'), 'k2')]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 409]);
    assert.equal(crm.state.store.calls().length, 1);
  });

  test('a POST without Idempotency-Key is stored; a repeat of it is a 409', async () => {
    assert.equal((await post(crm.callDataUrl, samplePayload('C2'))).status, 201);
    assert.equal((await post(crm.callDataUrl, samplePayload('C2'))).status, 409);
  });

  test('invalid JSON and invalid payloads are 400 and counted', async () => {
    const res = await fetch(crm.callDataUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { success: boolean }).success, false);
    const p = samplePayload('C3');
    const bad = await post(crm.callDataUrl, { ...p, transcription: { ...p.transcription, total_items: -1 } }, 'k');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors, [{ field: 'transcription.total_items', message: 'must be >= 0' }]);
    assert.equal((await admin().stats()).invalid, 2);
  });

  test('upload: answer valid against the contract; missing file field → 400; key replays', async () => {
    const first = await upload(crm.uploadUrl, 'up-1');
    assert.equal(first.status, 200);
    assert.deepEqual(contractValidator('upload-response.schema.json')(first.body), []);
    assert.equal((first.body.data as { size: number }).size, 143347);
    const second = await upload(crm.uploadUrl, 'up-2');
    assert.notEqual((second.body.data as { filename: string }).filename, (first.body.data as { filename: string }).filename);
    assert.deepEqual((await upload(crm.uploadUrl, 'up-1')).body, first.body);
    const missing = await upload(crm.uploadUrl, 'up-3', 'recording');
    assert.equal(missing.status, 400);
    assert.match(String(missing.body.message), /"file"/);
    const notMultipart = await post(crm.uploadUrl, { file: 'x' });
    assert.equal(notMultipart.status, 400);
    assert.equal(crm.state.store.uploads().length, 2);
  });

  test('GET call-data: filters and pagination', async () => {
    const admin_ = admin();
    for (let i = 1; i <= 5; i++) {
      await admin_.insertCall(samplePayload(`L${i}`, { startTime: `2025-10-0${i}T10:00:00.000Z`, voiceAgentId: i % 2 ? 'odd' : 'even' }));
    }
    const page1 = await get(`${crm.callDataUrl}?limit=2`);
    assert.deepEqual((page1.body.data as CallPayload[]).map((p) => p.callDetails.callId), ['L1', 'L2']);
    assert.deepEqual(page1.body.pagination, { total: 5, limit: 2, offset: 0, hasMore: true });
    const page3 = await get(`${crm.callDataUrl}?limit=2&offset=4`);
    assert.deepEqual((page3.body.data as CallPayload[]).map((p) => p.callDetails.callId), ['L5']);
    assert.deepEqual(page3.body.pagination, { total: 5, limit: 2, offset: 4, hasMore: false });
    const odd = await get(`${crm.callDataUrl}?voiceAgentId=odd&startDate=2025-10-02T00:00:00Z&endDate=2025-10-05T09:00:00Z`);
    assert.deepEqual((odd.body.data as CallPayload[]).map((p) => p.callDetails.callId), ['L3']);
    const one = await get(`${crm.callDataUrl}?callId=L4`);
    assert.equal((one.body.data as CallPayload[]).length, 1);
    const dflt = await get(crm.callDataUrl);
    assert.equal((dflt.body.pagination as { limit: number }).limit, 50);
    const capped = await get(`${crm.callDataUrl}?limit=5000`);
    assert.equal((capped.body.pagination as { limit: number }).limit, 1000);
    assert.equal((await get(`${crm.callDataUrl}?limit=abc`)).status, 400);
    assert.equal((await get(`${crm.callDataUrl}?startDate=yesterday`)).status, 400);
  });

  test('admin: insert, delete, and a deleted call can be created again', async () => {
    await admin().insertCall(samplePayload('A1'));
    assert.equal((await post(crm.callDataUrl, samplePayload('A1'), 'k')).status, 409);
    assert.equal(await admin().deleteCall('A1'), true);
    assert.equal(await admin().deleteCall('A1'), false);
    assert.equal((await post(crm.callDataUrl, samplePayload('A1'), 'k')).status, 201);
    assert.deepEqual((await admin().calls()).map((p) => p.callDetails.callId), ['A1']);
  });

  test('the sliding-window rate limit answers 429 with Retry-After, then lets requests through again', async () => {
    // 120/min over a 500 ms window: 1 request per window.
    await admin().faults({ rateLimitPerMin: 120, rateLimitWindowMs: 500 });
    assert.equal((await post(crm.callDataUrl, samplePayload('R1'), 'k1')).status, 201);
    const limited = await post(crm.callDataUrl, samplePayload('R2'), 'k2');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    const outcome = classifyOutcome(asResult(limited));
    assert.deepEqual(outcome.kind === 'wait' ? outcome.ms : null, 1_000);
    await new Promise((r) => setTimeout(r, 550));
    assert.equal((await post(crm.callDataUrl, samplePayload('R2'), 'k2')).status, 201);
    const stats = await admin().stats();
    assert.equal(stats.rateLimited, 1);
    const records = await admin().requests();
    assert.deepEqual(records.map((r) => [r.status, r.fault]), [[201, null], [429, 'rateLimit'], [201, null]]);
  });

  test('storm429 answers everything 429 for a while; admin routes are never faulted', async () => {
    await admin().faults({ storm429: { forMs: 300, retryAfterS: 7 } });
    const a = await post(crm.callDataUrl, samplePayload('S1'), 'k');
    const b = await upload(crm.uploadUrl, 'u');
    assert.equal(a.status, 429);
    assert.equal(b.status, 429);
    assert.equal(a.headers.get('retry-after'), '7');
    assert.deepEqual(classifyOutcome(asResult(a)), { kind: 'wait', ms: 7_000, reason: 'HTTP 429: Too many requests, please try again later.' });
    assert.equal((await admin().stats()).faults.storm429, 2);
    await new Promise((r) => setTimeout(r, 320));
    assert.equal((await post(crm.callDataUrl, samplePayload('S1'), 'k')).status, 201);
  });

  test('forceStatus: by count, and by callId until cleared; uploadStatus', async () => {
    await admin().faults({ forceStatus: { status: 400, count: 1, message: 'forced bad request' } });
    const forced = await post(crm.callDataUrl, samplePayload('F1'), 'k');
    assert.equal(forced.status, 400);
    assert.equal(forced.body.message, 'forced bad request');
    assert.equal((await post(crm.callDataUrl, samplePayload('F1'), 'k')).status, 201);

    await admin().faults({ forceStatus: { status: 503, callId: 'F2', retryAfterS: 4 } });
    for (let i = 0; i < 2; i++) {
      const a = await post(crm.callDataUrl, samplePayload('F2'), 'k');
      assert.equal(a.status, 503);
      assert.equal(a.headers.get('retry-after'), '4');
    }
    assert.equal((await post(crm.callDataUrl, samplePayload('F3'), 'k3')).status, 201);
    const state = await admin().faults({ forceStatus: null });
    assert.deepEqual(state.forceStatus, []);
    assert.equal((await post(crm.callDataUrl, samplePayload('F2'), 'k')).status, 201);

    await admin().faults({ uploadStatus: { status: 500, count: 1 } });
    assert.equal((await upload(crm.uploadUrl, 'u')).status, 500);
    assert.equal((await upload(crm.uploadUrl, 'u')).status, 200);
    const stats = await admin().stats();
    assert.equal(stats.faults.forceStatus, 3);
    assert.equal(stats.faults.uploadStatus, 1);
    assert.equal((await admin().requests()).find((r) => r.fault === 'forceStatus')?.callId, 'F1');
  });

  test('a bad fault setting is a 400 naming the field, and changes nothing', async () => {
    const res = await fetch(`${crm.url}/__admin/faults`, { method: 'POST', body: JSON.stringify({ latencyMs: 5, failRate: 7 }) });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { field: string }).field, 'failRate');
    assert.equal((await (await fetch(`${crm.url}/__admin/faults`)).json() as { latencyMs: number }).latencyMs, 0);
    await assert.rejects(admin().faults({ forceStatus: { status: 99 } }), /forceStatus\.status/);
  });

  test('failRate answers 500, 502 or 503, reproducibly with a seed', async () => {
    const statuses = async (): Promise<number[]> => {
      const local = await startTestCrm({ failRate: 0.5, seed: 7 });
      try {
        const out: number[] = [];
        for (let i = 0; i < 12; i++) out.push((await get(local.callDataUrl)).status);
        return out;
      } finally {
        await local.close();
      }
    };
    const a = await statuses();
    assert.deepEqual(a, await statuses());
    assert.ok(a.every((s) => [200, 500, 502, 503].includes(s)));
    assert.ok(a.includes(200) && a.some((s) => s >= 500), a.join(','));
  });

  test('bad options are refused naming the option', async () => {
    await assert.rejects(startTestCrm({ hangRate: 2 }), /hangRate/);
    await assert.rejects(startTestCrm({ rateLimitWindowMs: 0 }), /rateLimitWindowMs/);
  });

  test('close() ends hung requests', async () => {
    const local = await startTestCrm({ hangRate: 1 });
    const pending = fetch(local.callDataUrl).then(
      () => 'answered',
      () => 'dropped',
    );
    await new Promise((r) => setTimeout(r, 50));
    await local.close();
    assert.equal(await pending, 'dropped');
  });
});

describe('local CRM with a data dir', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-crm-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('calls and uploads survive a restart, and replays still work', async () => {
    const first = await startTestCrm({ dataDir: dir });
    let uploaded: Answer;
    try {
      assert.equal((await post(first.callDataUrl, samplePayload('P1'), 'kp')).status, 201);
      uploaded = await upload(first.uploadUrl, 'ku');
    } finally {
      await first.close();
    }
    const second = await startTestCrm({ dataDir: dir });
    try {
      assert.deepEqual((await crmAdmin(second.url).calls()).map((p) => p.callDetails.callId), ['P1']);
      const replay = await post(second.callDataUrl, samplePayload('P1'), 'kp');
      assert.equal(replay.status, 201);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      const again = await upload(second.uploadUrl, 'ku');
      assert.equal((again.body.data as { filename: string }).filename, (uploaded.body.data as { filename: string }).filename);
      const fresh = await upload(second.uploadUrl, 'other');
      assert.notEqual((fresh.body.data as { filename: string }).filename, (uploaded.body.data as { filename: string }).filename);
      const filename = (uploaded.body.data as { filename: string }).filename;
      const bytes = await (await fetch(`${second.url}/apis/uploads/recordings/${filename}`)).arrayBuffer();
      assert.equal(bytes.byteLength, 143347);
    } finally {
      await second.close();
    }
  });
});

describe('local-crm command', () => {
  test('runs as a process, prints its URL, serves, and exits 0 on SIGTERM', async () => {
    const proc = await spawnLocalCrmProcess(['--rate-limit-per-min', '600']);
    try {
      assert.match(proc.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await post(`${proc.url}/apis/api/public/call-data`, samplePayload('X1'), 'k')).status, 201);
      assert.equal((await crmAdmin(proc.url).stats()).created, 1);
    } finally {
      assert.equal(await proc.stop(), 0);
    }
  });

  test('a bad flag exits 2 naming the flag', () => {
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const run = spawnSync(process.execPath, [main, 'local-crm', '--hang-rate', 'lots'], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--hang-rate/);
  });
});
