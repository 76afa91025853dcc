/**
 * The pieces of issue 15 that are not one request each (those are in hostile-requests.test.ts): the
 * callId rule, the upload cap and the free-space floor (503 + Retry-After), a recording swapped for a
 * link after ingest, the API key sent to the CRM's own origin only, plain http:// refused off loopback,
 * token lengths, one masking of URLs and egress names, and the CLI's callId checks. Real servers, real
 * sockets, real files.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { waitFor } from '../helpers/wait-for.ts';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { confinedRecordingFolders } from '../../src/config/recording-folders.ts';
import { crmClientFor } from '../../src/delivery/open-delivery.ts';
import { ConfigError } from '../../src/errors.ts';
import { createLogger } from '../../src/log/logger.ts';
import { maskText, redactUrl } from '../../src/log/mask.ts';
import { startDashboard } from '../../src/dashboard/server.ts';
import { createOutbox } from '../../src/outbox/create-outbox.ts';
import { callIdProblem, E_CALL_ID, InvalidCallIdError, isValidCallId } from '../../src/payload/call-id-rules.ts';
import { prepareCall } from '../../src/api/prepare-call.ts';
import { createEnqueueBatcher } from '../../src/serve/enqueue-batcher.ts';
import { startIngestServer } from '../../src/serve/server.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { cliEnv, removeTempDirs, runCli, tempDir } from '../e2e/run-cli.ts';
import { fixture, LOGGER_SESSION, OGG, rigEnv, startRig, type ServeRig } from '../serve/harness.ts';

after(removeTempDirs);

/** The temporary files of uploads in progress (none when the folder was never made). */
function incoming(rig: ServeRig): string[] {
  const dir = join(rig.server.uploadsDir, '.incoming');
  return existsSync(dir) ? readdirSync(dir) : [];
}

test('the callId rule: 1-128 of A-Z a-z 0-9 . _ -, not all digits', () => {
  for (const ok of ['CALL-20251023-075634-7e155942', 'a', 'x'.repeat(128), 'room_1.call-2', '1a', '007.5']) assert.equal(callIdProblem(ok), null, ok);
  const bad: [unknown, RegExp][] = [
    ['12345', /all digits/],
    ['0', /all digits/],
    ['a:b', /letters, digits/],
    ['a b', /letters, digits/],
    ['../etc/passwd', /letters, digits/],
    ['', /1 to 128/],
    ['x'.repeat(129), /1 to 128 characters \(this one has 129\)/],
    ['é', /letters, digits/],
    ['a\nb', /letters, digits/],
    [42, /must be a string/],
  ];
  for (const [id, why] of bad) {
    assert.equal(isValidCallId(id), false, String(id));
    assert.match(callIdProblem(id) ?? '', why, String(id));
  }
  const err = new InvalidCallIdError('x'.repeat(5000), 'callId');
  assert.equal(err.code, E_CALL_ID);
  assert.ok(err.message.length < 400, 'a huge id is cut in the message');
});

test('prepareCall (the library) refuses an invalid callId with a typed error', async () => {
  const config = loadConfig({ env: { CRM_CAMPAIGN_ID: 'c', CRM_VOICE_AGENT_ID: 'a', CRM_CLIENT_ID: 'k' }, envFile: null });
  await assert.rejects(prepareCall({ transcript: LOGGER_SESSION, callId: '123456' }, config), (e: unknown) => e instanceof InvalidCallIdError && e.code === 'E_CALL_ID' && /"123456"/.test(e.message));
  const ok = await prepareCall({ transcript: LOGGER_SESSION, callId: 'CALL-mine-1' }, config);
  assert.equal(ok.payload.callDetails.callId, 'CALL-mine-1');
});

test('the enqueue batcher refuses a bad callId alone: the calls of the same turn still commit', async () => {
  const dir = tempDir('crm-door-batch-');
  const store = await createOutbox(join(dir, 'outbox.db'));
  try {
    const batcher = createEnqueueBatcher(store);
    const items = [makePayload(1), makePayload(2)].map((payload) => ({ callId: payload.callDetails.callId, payload, recordingPath: null, sourceFile: 't' }));
    const results = await Promise.allSettled([batcher.enqueue(items[0]!), batcher.enqueue({ ...items[1]!, callId: '999' }), batcher.enqueue(items[1]!)]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.ok((results[1] as PromiseRejectedResult).reason instanceof InvalidCallIdError);
    assert.equal((await store.counts()).pending, 2);
  } finally {
    await store.close();
  }
});

describe('serve: uploads refused for now (503 + Retry-After), and the 409', () => {
  let rig: ServeRig;
  before(async () => {
    rig = await startRig({}, { worker: false, maxConcurrentUploads: 1 });
  });
  after(async () => rig.close());

  test('a second upload while one is in flight is a 503 with Retry-After; the first then completes', async () => {
    const boundary = 'xyzBOUNDARY';
    const call = JSON.stringify({ session: fixture(LOGGER_SESSION), callId: 'CALL-slow-upload' });
    const ogg = readFileSync(OGG);
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="call"\r\n\r\n${call}\r\n--${boundary}\r\nContent-Disposition: form-data; name="recording"; filename="a.ogg"\r\nContent-Type: audio/ogg\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    let release!: () => void;
    const secondDone = new Promise<void>((r) => (release = r));
    const first = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(rig.url('/v1/calls'), {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${rig.server.token}`, 'content-length': head.length + ogg.length + tail.length },
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(head);
      req.write(ogg.subarray(0, 1000));
      // The rest once the second request has been refused.
      void secondDone.then(() => {
        req.write(ogg.subarray(1000));
        req.end(tail);
      });
    });
    // Wait until the first request holds its slot (its recording file is being written).
    await waitFor('the first upload to start', async () => (incoming(rig).length === 1 ? true : undefined));
    const form = new FormData();
    form.append('call', JSON.stringify({ session: fixture(LOGGER_SESSION), callId: 'CALL-second' }));
    const second = await fetch(rig.url('/v1/calls'), { method: 'POST', body: form, headers: { authorization: `Bearer ${rig.server.token}` } });
    assert.equal(second.status, 503);
    assert.equal(second.headers.get('retry-after'), '5');
    assert.equal(((await second.json()) as { code: string }).code, 'E_SERVE_BUSY');
    release();
    const done = await first;
    assert.equal(done.status, 202, done.body);
    // JSON calls are not uploads: never held by the cap.
    const json = await fetch(rig.url('/v1/calls'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${rig.server.token}` }, body: JSON.stringify({ session: fixture(LOGGER_SESSION), callId: 'CALL-json-1' }) });
    assert.equal(json.status, 202);
  });

  test('the same call again is 202 (idempotent); another payload under its callId is a 409 naming it', async () => {
    const post = (body: unknown) =>
      fetch(rig.url('/v1/calls'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${rig.server.token}` }, body: JSON.stringify(body) });
    const s = fixture(LOGGER_SESSION);
    assert.equal((await post({ session: s, callId: 'CALL-same-1', campaignId: 'x' })).status, 202);
    const again = await post({ session: s, callId: 'CALL-same-1', campaignId: 'x' });
    assert.equal(again.status, 202);
    assert.equal(((await again.json()) as { enqueued: boolean }).enqueued, false);
    const other = await post({ session: s, callId: 'CALL-same-1', campaignId: 'y' });
    assert.equal(other.status, 409);
    const body = (await other.json()) as { code: string; message: string };
    assert.equal(body.code, 'E_SERVE_CONFLICT');
    assert.match(body.message, /callId CALL-same-1 is already queued with a different payload/);
    assert.equal((await rig.server.store.get('CALL-same-1'))?.payload.campaignId, 'x', 'the first payload stays');
  });
});

test('serve: a recording under the free-space floor is a 503 before a byte is written; a JSON call is still taken', async () => {
  const rig = await startRig({}, { worker: false, minFreeBytes: Number.MAX_SAFE_INTEGER });
  try {
    const form = new FormData();
    form.append('call', JSON.stringify({ session: fixture(LOGGER_SESSION) }));
    form.append('recording', new Blob([readFileSync(OGG)]), 'a.ogg');
    const res = await fetch(rig.url('/v1/calls'), { method: 'POST', body: form, headers: { authorization: `Bearer ${rig.server.token}` } });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '60');
    assert.match(((await res.json()) as { message: string }).message, /not enough free disk space/);
    assert.deepEqual(incoming(rig), []);
    const json = await fetch(rig.url('/v1/calls'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${rig.server.token}` }, body: JSON.stringify({ session: fixture(LOGGER_SESSION) }) });
    assert.equal(json.status, 202);
  } finally {
    await rig.close();
  }
});

describe('uploading a recording: no link followed, confined, the key only to the CRM origin', () => {
  let crm: LocalCrm;
  let other: LocalCrm;
  let dir: string;
  before(async () => {
    crm = await startTestCrm();
    other = await startTestCrm();
    dir = tempDir('crm-door-upload-');
  });
  after(async () => {
    await crm.close();
    await other.close();
  });

  test('a link planted at the path, or a parent folder linked out, is refused (nothing read); a plain file goes', async () => {
    const folder = join(dir, 'recordings');
    const outside = join(dir, 'secret');
    mkdirSync(folder);
    mkdirSync(outside);
    writeFileSync(join(outside, 'id_rsa'), 'PRIVATE KEY');
    symlinkSync(join(outside, 'id_rsa'), join(folder, 'call.ogg'));
    symlinkSync(outside, join(folder, 'linked'));
    writeFileSync(join(folder, 'real.ogg'), readFileSync(OGG));
    const client = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, apiKey: 'k'.repeat(40), timeoutMs: 10_000, confineRecordingsTo: [folder] });
    try {
      const link = await client.uploadRecording(join(folder, 'call.ogg'), { idempotencyKey: 'a' });
      assert.equal(link.kind, 'error');
      assert.match(link.kind === 'error' ? link.message : '', /symbolic link/);
      const parent = await client.uploadRecording(join(folder, 'linked', 'id_rsa'), { idempotencyKey: 'b' });
      assert.equal(parent.kind, 'error');
      assert.match(parent.kind === 'error' ? parent.message : '', /leads outside its recordings folder/);
      const fifoLess = await client.uploadRecording(folder, { idempotencyKey: 'c' });
      assert.equal(fifoLess.kind, 'error', 'a folder is not a file');
      assert.equal(crm.state.store.uploads().length, 0, 'nothing was uploaded');
      const good = await client.uploadRecording(join(folder, 'real.ogg'), { idempotencyKey: 'd' });
      assert.equal(good.kind === 'response' ? good.status : 0, 200, JSON.stringify(good));
      assert.deepEqual(crm.state.store.uploads().map((u) => [u.originalName, u.size]), [['real.ogg', readFileSync(OGG).length]]);
    } finally {
      await client.close();
    }
  });

  test("every worker's client (crmClientFor) confines CRM_RECORDINGS_DIR and serve's default uploads folder; a recording elsewhere is not confined", async () => {
    const folder = join(dir, 'confined');
    mkdirSync(folder);
    writeFileSync(join(dir, 'elsewhere.ogg'), readFileSync(OGG));
    mkdirSync(join(dir, 'linked-target'));
    writeFileSync(join(dir, 'linked-target', 'x.ogg'), readFileSync(OGG));
    symlinkSync(join(dir, 'linked-target'), join(folder, 'sub'));
    const config = loadConfig({ env: { CRM_API_URL: crm.callDataUrl, CRM_OUTBOX: join(dir, 'o', 'outbox.db'), CRM_RECORDINGS_DIR: folder }, cwd: dir, envFile: null });
    assert.deepEqual(confinedRecordingFolders(config), [join(dir, 'o', 'ingest-recordings'), folder]);
    const client = crmClientFor(config);
    try {
      const out = await client.uploadRecording(join(folder, 'sub', 'x.ogg'), { idempotencyKey: 'e' });
      assert.match(out.kind === 'error' ? out.message : 'uploaded', /leads outside its recordings folder/);
      const free = await client.uploadRecording(join(dir, 'elsewhere.ogg'), { idempotencyKey: 'f' });
      assert.equal(free.kind === 'response' ? free.status : 0, 200, 'a bulk recording outside the confined folders still goes');
    } finally {
      await client.close();
    }
  });

  test('CRM_UPLOAD_URL on another origin gets no Authorization; the CRM_API_URL origin does', async () => {
    writeFileSync(join(dir, 'x.ogg'), readFileSync(OGG));
    const client = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: other.uploadUrl, apiKey: 'k'.repeat(40), timeoutMs: 10_000 });
    try {
      await client.uploadRecording(join(dir, 'x.ogg'), { idempotencyKey: 'up-1' });
      await client.postCallData(makePayload(7), { idempotencyKey: 'cd-1' });
    } finally {
      await client.close();
    }
    assert.deepEqual((await crmAdmin(other.url).requests()).map((r) => [r.path, r.authorization]), [['/apis/api/public/upload', false]]);
    assert.deepEqual((await crmAdmin(crm.url).requests()).filter((r) => r.idempotencyKey === 'cd-1').map((r) => r.authorization), [true]);
  });
});

test('config: plain http:// to another machine is refused naming the variable, unless CRM_ALLOW_INSECURE=1; loopback is fine', () => {
  const base = { CRM_OUTBOX: '/tmp/never.db' };
  assert.throws(
    () => loadConfig({ env: { ...base, CRM_API_URL: 'http://crm.example.com/apis/api/public/call-data' }, envFile: null }),
    (e: unknown) => e instanceof ConfigError && e.context.variable === 'CRM_API_URL' && /plain http:\/\/ to crm\.example\.com/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ env: { ...base, CRM_UPLOAD_URL: 'http://10.0.0.5:8080/upload' }, envFile: null }),
    (e: unknown) => e instanceof ConfigError && e.context.variable === 'CRM_UPLOAD_URL',
  );
  assert.equal(loadConfig({ env: { ...base, CRM_API_URL: 'http://crm.example.com/a', CRM_ALLOW_INSECURE: '1' }, envFile: null }).apiUrl, 'http://crm.example.com/a');
  for (const local of ['http://127.0.0.1:9/a', 'http://localhost:9/a', 'http://[::1]:9/a']) assert.equal(loadConfig({ env: { ...base, CRM_API_URL: local }, envFile: null }).apiUrl, local);
  // A malformed URL's credentials are not repeated in the error.
  assert.throws(() => loadConfig({ env: { ...base, CRM_API_URL: 'ftp://user:hunter2@x/' }, envFile: null }), (e: unknown) => e instanceof Error && !e.message.includes('hunter2'));
});

test('tokens off loopback: at least 32 characters, CRM_INGEST_TOKEN and CRM_DASHBOARD_TOKEN (a ConfigError naming each)', async () => {
  const crm = await startTestCrm();
  const dir = tempDir('crm-door-tokens-');
  try {
    const config = (over: Record<string, string>) => loadConfig({ env: rigEnv(crm, dir, over), cwd: dir, envFile: null });
    await assert.rejects(
      startIngestServer({ config: config({ CRM_INGEST_TOKEN: 'x'.repeat(31) }), host: '0.0.0.0', port: 0, worker: false }),
      (e: unknown) => e instanceof ConfigError && e.context.variable === 'CRM_INGEST_TOKEN' && /at least 32 characters/.test(e.message) && !e.message.includes('x'.repeat(31)),
    );
    await assert.rejects(
      startDashboard({ config: config({ CRM_DASHBOARD_TOKEN: 'y'.repeat(31) }), host: '0.0.0.0', port: 0 }),
      (e: unknown) => e instanceof ConfigError && e.context.variable === 'CRM_DASHBOARD_TOKEN' && /at least 32 characters/.test(e.message),
    );
    // On loopback a shorter one stays allowed (the dashboard's floor there is 16).
    const s = await startIngestServer({ config: config({ CRM_INGEST_TOKEN: 'short-but-local' }), port: 0, worker: false });
    assert.equal(s.tokenFromConfig, true);
    await s.close();
  } finally {
    await crm.close();
  }
});

test('one masking: URLs lose credentials and query values, egress names their digits; the logger applies it (also with --show-pii for URLs)', () => {
  assert.equal(redactUrl('https://user:pw@crm.example.com:8443/a/b?api_key=SECRET&limit=5'), 'https://***:***@crm.example.com:8443/a/b?api_key=***&limit=***');
  assert.equal(redactUrl('redis://:hunter2@redis:6379/0'), 'redis://***:***@redis:6379/0');
  // Nothing secret: the text as it was, a bare origin without the `/` URL's own spelling would add.
  assert.equal(redactUrl('http://127.0.0.1:8787'), 'http://127.0.0.1:8787');
  assert.equal(maskText('listening on http://127.0.0.1:8787'), 'listening on http://127.0.0.1:8787');
  assert.equal(maskText('uploading number-_919999900001-1761745857.ogg now'), 'uploading number-_**********01-1761745857.ogg now');
  assert.equal(maskText('transcript_session_2025-10-23T07-57-04.661114.json'), 'transcript_session_2025-10-23T07-57-04.661114.json', 'dates and ids stay');
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  for (const showPii of [false, true]) {
    const logger = createLogger({ level: 'debug', destination: sink, showPii });
    logger.debug({ url: 'https://u:CANARYPW@crm/x?token=CANARYQ', token: 'CANARYTOKEN', headers: { authorization: 'Bearer CANARYAUTH' }, file: 'number-_919999900001-1761745857.ogg' }, 'GET https://crm/x?key=CANARYMSG');
  }
  const text = lines.join('');
  assert.equal(lines.length, 2);
  assert.doesNotMatch(text, /CANARY/);
  assert.match(lines[0] ?? '', /number-_\*{10}01-1761745857\.ogg/);
  assert.match(lines[1] ?? '', /number-_919999900001-1761745857\.ogg/, '--show-pii keeps the digits');
});

test('CLI: send --call-id and dead-letter replay refuse invalid callIds (exit 2 naming them)', async () => {
  const env = cliEnv('http://127.0.0.1:9/unused/call-data');
  const [send, replay] = await Promise.all([runCli(['send', LOGGER_SESSION, '--call-id', '20251023', '--dry-run'], env), runCli(['dead-letter', 'replay', 'ok-id', 'bad:id'], env)]);
  assert.equal(send.code, 2, send.stderr);
  assert.match(send.stderr, /--call-id "20251023" is invalid: a callId must not be all digits/);
  assert.equal(replay.code, 2, replay.stderr);
  assert.match(replay.stderr, /invalid callId "bad:id"/);
});
