/**
 * The undici client against a real local CRM (no mocks): results, idempotency, headers, timeouts,
 * faults and redirects.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyOutcome } from '../../src/crm/classify-outcome.ts';
import type { CrmResult } from '../../src/crm/crm-client.ts';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { idempotencyKey } from '../../src/crm/idempotency.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { contractValidator, samplePayload } from '../local-crm/sample-payload.ts';
import { OGG_RECORDING } from '../helpers/fixtures.ts';

const RECORDING = OGG_RECORDING;
const RECORDING_SIZE = 143347;

type Response = Extract<CrmResult, { kind: 'response' }>;

function response(result: CrmResult): Response {
  assert.equal(result.kind, 'response', `expected a response, got ${JSON.stringify(result)}`);
  return result as Response;
}

function data(result: CrmResult): Record<string, unknown> {
  const body = response(result).body as { data?: unknown };
  assert.ok(body.data && typeof body.data === 'object');
  return body.data as Record<string, unknown>;
}

describe('http CRM client ↔ local CRM', () => {
  let crm: LocalCrm;
  let client: ReturnType<typeof createHttpCrmClient>;
  const admin = (): ReturnType<typeof crmAdmin> => crmAdmin(crm.url);

  before(async () => {
    crm = await startTestCrm();
    client = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, apiKey: 'secret-token', timeoutMs: 2_000 });
  });
  after(async () => {
    await client.close();
    await crm.close();
  });
  beforeEach(async () => {
    await admin().reset();
  });

  test('the hand-built payload is valid against the contract', () => {
    assert.deepEqual(contractValidator('call-data.schema.json')(samplePayload('CALL-1')), []);
  });

  test('a valid payload is created (201) and stored', async () => {
    const payload = samplePayload('CALL-A');
    const result = await client.postCallData(payload, { idempotencyKey: idempotencyKey('CALL-A', 'call-data') });
    assert.equal(response(result).status, 201);
    assert.equal(data(result).callId, 'CALL-A');
    assert.deepEqual(classifyOutcome(result), { kind: 'delivered' });
    assert.deepEqual(await admin().calls(), [payload]);
  });

  test('the same call twice with the same key: one call, the second is a replay', async () => {
    const key = idempotencyKey('CALL-B', 'call-data');
    const first = await client.postCallData(samplePayload('CALL-B'), { idempotencyKey: key });
    const second = await client.postCallData(samplePayload('CALL-B'), { idempotencyKey: key });
    assert.equal(response(first).status, 201);
    assert.equal(response(second).status, 201);
    assert.deepEqual(response(second).body, response(first).body);
    assert.equal(response(second).headers['idempotent-replayed'], 'true');
    assert.equal((await admin().calls()).length, 1);
    const stats = await admin().stats();
    assert.equal(stats.created, 1);
    assert.equal(stats.replays, 1);
  });

  test('the same call with another key is a 409, which counts as delivered', async () => {
    await client.postCallData(samplePayload('CALL-C'), { idempotencyKey: 'key-1' });
    const result = await client.postCallData(samplePayload('CALL-C'), { idempotencyKey: 'key-2' });
    assert.equal(response(result).status, 409);
    assert.deepEqual(response(result).body, { success: false, message: 'call already exists' });
    assert.deepEqual(classifyOutcome(result), { kind: 'delivered' });
    assert.equal((await admin().stats()).conflicts, 1);
  });

  test('an invalid payload is a 400 naming the field, and is dead', async () => {
    const payload = samplePayload('CALL-D');
    const bad = { ...payload, callDetails: { ...payload.callDetails, startTime: '2025-10-28 06:27:29' } } as CallPayload;
    const result = await client.postCallData(bad, { idempotencyKey: 'k' });
    const body = response(result).body as { success: boolean; errors: { field: string; message: string }[] };
    assert.equal(response(result).status, 400);
    assert.equal(body.success, false);
    assert.deepEqual(body.errors.map((e) => e.field), ['callDetails.startTime']);
    const outcome = classifyOutcome(result);
    assert.equal(outcome.kind, 'dead');
    assert.match(outcome.kind === 'dead' ? outcome.reason : '', /HTTP 400.*callDetails\.startTime/);
    assert.equal((await admin().calls()).length, 0);
  });

  test('a missing required field and an extra field are both named', async () => {
    const { caller: _caller, ...rest } = samplePayload('CALL-E');
    const bad = { ...rest, extra: 1 } as unknown as CallPayload;
    const body = response(await client.postCallData(bad, { idempotencyKey: 'k' })).body as { errors: { field: string }[] };
    assert.deepEqual(body.errors.map((e) => e.field).sort(), ['caller', 'extra']);
  });

  test('a recording upload is streamed, stored once per key, and answered as the contract says', async () => {
    const key = idempotencyKey('CALL-F', 'recording');
    const result = await client.uploadRecording(RECORDING, { idempotencyKey: key });
    const res = response(result);
    assert.equal(res.status, 200);
    assert.deepEqual(contractValidator('upload-response.schema.json')(res.body), []);
    const d = data(result);
    assert.equal(d.size, RECORDING_SIZE);
    assert.equal(d.originalName, 'number-_919999900001-1761745857.ogg');
    assert.match(String(d.filename), /^\d+\.ogg$/);
    assert.equal(d.url, `${crm.url}/apis/uploads/recordings/${String(d.filename)}`);
    assert.equal(d.relativeUrl, `/uploads/recordings/${String(d.filename)}`);

    const served = await fetch(String(d.url));
    assert.equal(served.headers.get('content-type'), 'audio/ogg');
    assert.equal((await served.arrayBuffer()).byteLength, RECORDING_SIZE);

    const again = await client.uploadRecording(RECORDING, { idempotencyKey: key });
    assert.deepEqual(response(again).body, res.body);
    const stats = await admin().stats();
    assert.equal(stats.uploadsStored, 1);
    assert.equal(stats.uploadReplays, 1);
  });

  test('a missing recording is a file error, dead, and sends nothing', async () => {
    const result = await client.uploadRecording('/nonexistent/recording.ogg', { idempotencyKey: 'k' });
    assert.equal(result.kind, 'error');
    assert.equal(result.kind === 'error' ? result.error : '', 'file');
    assert.equal(classifyOutcome(result).kind, 'dead');
    assert.equal((await admin().requests()).length, 0);
  });

  test('the server sees the Idempotency-Key and that Authorization is present, never its value', async () => {
    await client.postCallData(samplePayload('CALL-G'), { idempotencyKey: 'crm-upload:call-data:CALL-G' });
    const anonymous = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, timeoutMs: 2_000 });
    try {
      await anonymous.listCallData({ callId: 'CALL-G' });
    } finally {
      await anonymous.close();
    }
    const [post, list] = await admin().requests();
    assert.ok(post && list);
    assert.equal(post.idempotencyKey, 'crm-upload:call-data:CALL-G');
    assert.equal(post.callId, 'CALL-G');
    assert.equal(post.status, 201);
    assert.equal(post.authorization, true);
    assert.equal(list.authorization, false);
    assert.equal(list.idempotencyKey, null);
    const raw = await (await fetch(`${crm.url}/__admin/requests`)).text();
    assert.ok(!raw.includes('secret-token'), 'the token must not be stored');
  });

  test('latency above the timeout gives a timeout result, before the server answers', async () => {
    await admin().faults({ latencyMs: 700 });
    const fast = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, timeoutMs: 250 });
    try {
      const started = Date.now();
      const result = await fast.postCallData(samplePayload('CALL-H'), { idempotencyKey: 'k' });
      const elapsed = Date.now() - started;
      assert.equal(result.kind === 'error' ? result.error : result.kind, 'timeout');
      assert.equal(classifyOutcome(result).kind, 'retry');
      // The client left during the delay, so the server drops the request instead of storing it.
      await new Promise((r) => setTimeout(r, 700 - elapsed + 100));
      assert.equal((await admin().calls()).length, 0);
      assert.deepEqual((await admin().requests()).map((r) => [r.status, r.fault]), [[null, 'latency']]);
    } finally {
      await fast.close();
    }
  });

  test('a hung request gives a timeout result; so does a hung upload', async () => {
    await admin().faults({ hangRate: 1 });
    const fast = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, timeoutMs: 250 });
    try {
      const result = await fast.postCallData(samplePayload('CALL-I'), { idempotencyKey: 'k' });
      // A timeout against a server that never answers: the deadline ended it (how fast is no test's).
      assert.equal(result.kind === 'error' ? result.error : result.kind, 'timeout');
      // 143 kB adds ~0.55 s to the upload's deadline: it waits longer than the plain 250 ms (a lower bound,
      // which a busy machine only makes longer).
      const started = Date.now();
      const upload = await fast.uploadRecording(RECORDING, { idempotencyKey: 'k2' });
      const elapsed = Date.now() - started;
      assert.equal(upload.kind === 'error' ? upload.error : upload.kind, 'timeout');
      assert.ok(elapsed >= 700, `took ${elapsed} ms`);
    } finally {
      await fast.close();
    }
  });

  test('a reset connection gives a network error', async () => {
    await admin().faults({ resetRate: 1 });
    const result = await client.postCallData(samplePayload('CALL-J'), { idempotencyKey: 'k' });
    assert.equal(result.kind === 'error' ? result.error : result.kind, 'network');
    assert.equal(classifyOutcome(result).kind, 'retry');
  });

  test('the caller can abort a request', async () => {
    await admin().faults({ hangRate: 1 });
    const result = await client.postCallData(samplePayload('CALL-K'), { idempotencyKey: 'k', signal: AbortSignal.timeout(100) });
    assert.equal(result.kind, 'error');
    assert.match(result.kind === 'error' ? result.message : '', /aborted/);
  });

  test('listCallData passes the filters and reads the page', async () => {
    await client.postCallData(samplePayload('CALL-L1', { startTime: '2025-10-01T10:00:00Z' }), { idempotencyKey: 'a' });
    await client.postCallData(samplePayload('CALL-L2', { startTime: '2025-10-02T10:00:00Z' }), { idempotencyKey: 'b' });
    await client.postCallData(samplePayload('CALL-L3', { startTime: '2025-10-03T10:00:00Z', campaignId: 'other' }), { idempotencyKey: 'c' });
    const result = await client.listCallData({ campaignId: '68c91223fde0aa95caa3dbe4', startDate: '2025-10-01T12:00:00Z', limit: 10 });
    const body = response(result).body as { data: CallPayload[]; pagination: unknown };
    assert.deepEqual(body.data.map((p) => p.callDetails.callId), ['CALL-L2']);
    assert.deepEqual(body.pagination, { total: 1, limit: 10, offset: 0, hasMore: false });
  });

  test('a redirect is returned as is, never followed', async () => {
    let targetHits = 0;
    const seen: Record<string, string | string[] | undefined>[] = [];
    const redirector = createServer((req, res) => {
      seen.push(req.headers);
      if (req.url === '/target') {
        targetHits++;
        res.writeHead(200).end('{}');
        return;
      }
      req.resume();
      res.writeHead(302, { location: '/target' }).end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
    const c = createHttpCrmClient({ apiUrl: `${origin}/call-data`, uploadUrl: `${origin}/upload`, apiKey: 'tok', timeoutMs: 2_000 });
    try {
      const post = await c.postCallData(samplePayload('CALL-M'), { idempotencyKey: 'k' });
      const upload = await c.uploadRecording(RECORDING, { idempotencyKey: 'k' });
      assert.equal(response(post).status, 302);
      assert.equal(response(upload).status, 302);
      assert.equal(response(post).headers.location, '/target');
      assert.equal(targetHits, 0);
      const [postHeaders, uploadHeaders] = seen;
      assert.match(String(postHeaders?.['user-agent']), /^crm-upload\/\d+\.\d+\.\d+$/);
      assert.equal(postHeaders?.authorization, 'Bearer tok');
      assert.equal(postHeaders?.['idempotency-key'], 'k');
      assert.equal(postHeaders?.['content-type'], 'application/json');
      assert.match(String(uploadHeaders?.['content-type']), /^multipart\/form-data; boundary=/);
      const outcome = classifyOutcome(post);
      assert.equal(outcome.kind, 'dead');
      assert.match(outcome.kind === 'dead' ? outcome.reason : '', /\/target/);
    } finally {
      await c.close();
      await new Promise<void>((resolve) => redirector.close(() => resolve()));
    }
  });
});
