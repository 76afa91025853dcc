import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { TranscriptLogger, type TranscriptSession } from '../../src/logger/transcript-logger.ts';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { readInputFile } from '../../src/ingest/read-file.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmClientFor } from '../../src/delivery/open-delivery.ts';
import { prepareCall } from '../../src/api/prepare-call.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startWorker } from '../../src/worker/worker.ts';
import { startTestCrm, crmAdmin } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { fixture } from '../helpers/fixtures.ts';

const FIXTURE = fixture('conversations/transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json');
/** The seed's own session, as its logger held it in memory before saving. */
const fixtureSession = (): TranscriptSession => JSON.parse(readFileSync(FIXTURE, 'utf8')) as TranscriptSession;
const FIXTURE_CALL_ID = 'CALL-20251023-075634-7e155942';
const NAME_RE = /^transcript_session_(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})\.(\d{6})\.json$/;

// One folder for the file's tests, removed once every test and its after-hooks have run: a test's own
// hooks run in the order they were added, and a logger closed by one must not find its folder gone.
const ROOT = mkdtempSync(join(tmpdir(), 'crm-logger-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

function tempDir(_t: TestContext): string {
  return mkdtempSync(join(ROOT, 'case-'));
}

/** Config as the environment would give it; the CRM ids are set unless `extra` clears them. */
function configFor(dir: string, apiUrl: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    cwd: dir,
    envFile: null,
    env: {
      CRM_API_URL: apiUrl,
      CRM_OUTBOX: 'outbox.db',
      CRM_CONVERSATIONS_DIR: 'conversations',
      CRM_CAMPAIGN_ID: 'camp',
      CRM_VOICE_AGENT_ID: 'agent',
      CRM_CLIENT_ID: 'client',
      CRM_RATE_LIMIT: '0',
      CRM_RETRY_SCHEDULE: '50ms',
      CRM_MAX_ATTEMPTS: '100',
      ...extra,
    },
  });
}

/** A CRM URL nothing listens on: a local CRM's, once it has closed. */
async function downCrmUrl(): Promise<string> {
  const gone = await startTestCrm();
  await gone.close();
  return gone.callDataUrl;
}

/** pino lines written to memory. */
function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ destination, level: 'warn' }) };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('the file written is the seed session, named by its UTC save time, read back with the same call; auto-upload off opens no outbox', async (t) => {
  const dir = tempDir(t);
  const config = configFor(dir, 'http://127.0.0.1:9/apis/api/public/call-data');
  const logger = new TranscriptLogger({ config, autoUpload: false });
  assert.equal(logger.conversationsDir, join(dir, 'conversations'), 'CRM_CONVERSATIONS_DIR resolves against the user directory');
  const before = Date.now();
  const r = await logger.saveConversationSession(fixtureSession());
  const after = Date.now();
  await logger.close();

  assert.deepEqual(r, { file: r.file, enqueued: false });
  assert.deepEqual(readdirSync(logger.conversationsDir), [basename(r.file)], 'one file, no .partial left');
  const m = NAME_RE.exec(basename(r.file));
  assert.ok(m, basename(r.file));
  const savedAt = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${(m[5] ?? '').slice(0, 3)}Z`);
  assert.ok(savedAt >= before && savedAt <= after, 'the name holds the save time in UTC');

  assert.deepEqual(JSON.parse(readFileSync(r.file, 'utf8')), JSON.parse(readFileSync(FIXTURE, 'utf8')));
  const original = await readInputFile(FIXTURE, { sourceTimezone: 'UTC' });
  const written = await readInputFile(r.file, { sourceTimezone: 'UTC' });
  assert.equal(written.kind, 'call');
  assert.equal(original.kind, 'call');
  if (written.kind === 'call' && original.kind === 'call') {
    assert.equal(written.format, 'transcript-logger');
    assert.deepEqual({ ...written.call, file: '' }, { ...original.call, file: '' });
    assert.equal(written.call.items.length, 3);
    assert.equal(written.call.toolCalls[0]?.name, 'create_lead');
  }
  assert.equal(existsSync(config.outbox), false, 'no outbox is opened when auto-upload is off');
});

test('missing summary fields are filled, Dates are written as UTC ISO, extra fields are kept', async (t) => {
  const dir = tempDir(t);
  const logger = new TranscriptLogger({ config: configFor(dir, 'http://127.0.0.1:9/x'), autoUpload: false });
  t.after(() => logger.close());
  const r = await logger.saveConversationSession({
    session_id: 'session_20251029_101619_abcdef12',
    start_time: new Date('2025-10-29T10:16:19.574Z'),
    end_time: new Date('2025-10-29T10:16:50.074Z'),
    items: [
      { id: 'item_1', type: 'message', role: 'assistant', content: ['Hello', 'there'], interrupted: false },
      { role: 'user', content: 'Hi', timestamp: new Date('2025-10-29T10:16:25.000Z'), source: 'transcription_node' },
      { type: 'function_call', name: 'create_lead', arguments: '{"name":"Ravi Menon"}', call_id: 'c1' },
    ],
    agent: 'piperbot',
  });
  const text = readFileSync(r.file, 'utf8');
  const doc = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc), ['session_id', 'start_time', 'end_time', 'items', 'total_items', 'duration_seconds', 'lead_generated', 'metadata', 'agent']);
  assert.equal(doc.start_time, '2025-10-29T10:16:19.574Z');
  assert.equal(doc.end_time, '2025-10-29T10:16:50.074Z');
  assert.equal(doc.total_items, 3);
  assert.equal(doc.duration_seconds, 30.5);
  assert.equal(doc.lead_generated, true);
  assert.deepEqual(doc.metadata, {});
  assert.match(text, /"timestamp": "2025-10-29T10:16:25.000Z"/);
  const read = await readInputFile(r.file, { sourceTimezone: 'UTC' });
  assert.equal(read.kind, 'call');
  if (read.kind === 'call') assert.deepEqual(read.call.items.map((i) => [i.role, i.content]), [['assistant', 'Hello there'], ['user', 'Hi']]);
});

test('saves in the same instant get their own files; none overwrites another', async (t) => {
  const dir = tempDir(t);
  const logger = new TranscriptLogger({ config: configFor(dir, 'http://127.0.0.1:9/x'), autoUpload: false });
  t.after(() => logger.close());
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => logger.saveConversationSession({ ...fixtureSession(), session_id: `s${i}` })));
  assert.equal(new Set(results.map((r) => r.file)).size, 20);
  const names = readdirSync(logger.conversationsDir);
  assert.equal(names.length, 20);
  assert.ok(names.every((n) => NAME_RE.test(n)));
  const ids = names.map((n) => (JSON.parse(readFileSync(join(logger.conversationsDir, n), 'utf8')) as { session_id: string }).session_id);
  assert.deepEqual(ids.sort(), Array.from({ length: 20 }, (_, i) => `s${i}`).sort());
});

test('CRM unanswering: the save returns with the call pending, never waiting on the CRM; a worker delivers it once the CRM is back', async (t) => {
  const dir = tempDir(t);
  // A CRM that holds every request unanswered, with a request timeout far beyond the test: a save that
  // waited on it would never return. Order and counts, not milliseconds, say it does not wait.
  const hung = await startTestCrm({ hangRate: 1 });
  t.after(() => hung.close());
  const config = configFor(dir, hung.callDataUrl, { CRM_AUTO_UPLOAD: 'true', CRM_TIMEOUT_MS: '10m' });
  const logger = new TranscriptLogger({ config });
  assert.equal(logger.autoUpload, true, 'CRM_AUTO_UPLOAD turns auto-upload on');
  const r = await logger.saveConversationSession(fixtureSession());
  assert.deepEqual(r, { file: r.file, callId: FIXTURE_CALL_ID, enqueued: true, state: 'pending' });
  assert.equal((await crmAdmin(hung.url).stats()).requests, 0, 'the save sent nothing');
  await logger.close();

  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  const item = await store.get(FIXTURE_CALL_ID);
  assert.equal(item?.state, 'pending');
  assert.equal(item.attempts, 0, 'the logger never tried the CRM');
  assert.equal(item.sourceFile, r.file);
  assertValidPayload(item.payload);
  assert.deepEqual(item.payload, (await prepareCall({ transcript: r.file }, config)).payload);

  const crm = await startTestCrm();
  t.after(() => crm.close());
  const live = { ...config, apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl };
  const client = crmClientFor(live);
  const summary = await startWorker({ store, client, config: live, idleExit: true }).done;
  await client.close();
  assert.equal(summary.delivered, 1);
  const admin = crmAdmin(crm.url);
  assert.deepEqual((await admin.calls()).map((c) => c.callDetails.callId), [FIXTURE_CALL_ID]);
  const posts = (await admin.requests()).filter((q) => q.method === 'POST' && q.callId === FIXTURE_CALL_ID);
  assert.equal(posts.length, 1, 'sent exactly once');
  assert.equal((await store.get(FIXTURE_CALL_ID))?.state, 'delivered');
});

test('the same session saved twice is enqueued once (same callId)', async (t) => {
  const dir = tempDir(t);
  const config = configFor(dir, await downCrmUrl());
  const logger = new TranscriptLogger({ config, autoUpload: true });
  t.after(() => logger.close());
  const first = await logger.saveConversationSession(fixtureSession());
  const second = await logger.saveConversationSession(fixtureSession());
  assert.notEqual(first.file, second.file, 'both saves are on disk');
  assert.deepEqual([first.callId, first.enqueued], [FIXTURE_CALL_ID, true]);
  assert.deepEqual([second.callId, second.enqueued, second.state, second.error], [FIXTURE_CALL_ID, false, 'pending', undefined]);
  await logger.close();
  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  const counts = await store.counts();
  assert.equal(counts.pending + counts.in_flight + counts.delivered + counts.dead, 1);
});

test('a call that cannot be mapped (no CRM_CAMPAIGN_ID): file written, E_CONFIG returned and logged, nothing thrown', async (t) => {
  const dir = tempDir(t);
  const config = configFor(dir, 'http://127.0.0.1:9/x', { CRM_CAMPAIGN_ID: '' });
  const { lines, logger: log } = memoryLogger();
  const logger = new TranscriptLogger({ config, autoUpload: true, logger: log });
  const r = await logger.saveConversationSession(fixtureSession());
  await logger.close();
  assert.equal(r.enqueued, false);
  assert.equal(r.error?.code, 'E_CONFIG');
  assert.match(r.error.message, /CRM_CAMPAIGN_ID/);
  assert.deepEqual(readdirSync(logger.conversationsDir), [basename(r.file)]);
  const logged = lines.find((l) => l.code === 'E_CONFIG');
  assert.ok(logged, JSON.stringify(lines));
  assert.equal(logged.level, 50);
  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  assert.equal((await store.counts()).pending, 0);
});

test('a malformed session is still saved as given; the reader\'s error is returned, nothing thrown', async (t) => {
  const dir = tempDir(t);
  const { logger: log } = memoryLogger();
  const logger = new TranscriptLogger({ config: configFor(dir, 'http://127.0.0.1:9/x'), autoUpload: true, logger: log });
  t.after(() => logger.close());
  const r = await logger.saveConversationSession({ session_id: 'session_bad_00000001', start_time: 'yesterday', items: [] });
  assert.equal(r.enqueued, false);
  assert.match(r.error?.code ?? '', /^E_INPUT/);
  assert.equal((JSON.parse(readFileSync(r.file, 'utf8')) as { start_time: string }).start_time, 'yesterday');
});

test('only a failure to write the session rejects, and it leaves no .partial file', async (t) => {
  const dir = tempDir(t);
  const config = configFor(dir, 'http://127.0.0.1:9/x');
  writeFileSync(join(dir, 'not-a-folder'), '');
  const logger = new TranscriptLogger({ config, autoUpload: true, conversationsDir: 'not-a-folder' });
  t.after(() => logger.close());
  await assert.rejects(logger.saveConversationSession(fixtureSession()), { code: 'E_SESSION_WRITE' });
  const circular = fixtureSession();
  circular.metadata = { self: circular };
  const ok = new TranscriptLogger({ config, autoUpload: true });
  t.after(() => ok.close());
  await assert.rejects(ok.saveConversationSession(circular), { code: 'E_SESSION_WRITE' });
  assert.deepEqual(existsSync(ok.conversationsDir) ? readdirSync(ok.conversationsDir) : [], []);
});

test('deliverInProcess: the save returns before the delivery it starts has an outcome, and the call is delivered once the CRM recovers', async (t) => {
  const dir = tempDir(t);
  // The first attempt is held unanswered until its 3 s timeout: the save returning while the attempt has
  // no outcome yet shows it does not wait for the delivery (order, not milliseconds).
  const crm = await startTestCrm({ hangRate: 1 });
  t.after(() => crm.close());
  const admin = crmAdmin(crm.url);
  const config = configFor(dir, crm.callDataUrl, { CRM_TIMEOUT_MS: '3s' });
  const logger = new TranscriptLogger({ config, autoUpload: true, deliverInProcess: true });
  t.after(() => logger.close());
  const r = await logger.saveConversationSession(fixtureSession());
  assert.equal(r.enqueued, true);
  const early = openSqliteOutbox(config.outbox);
  const atReturn = await early.get(FIXTURE_CALL_ID);
  await early.close();
  assert.deepEqual([atReturn?.attempts, atReturn?.state === 'delivered'], [0, false], 'no outcome when the save returned');
  // The CRM now fails fast, then recovers.
  await admin.faults({ hangRate: 0, forceStatus: { status: 503 } });

  await waitFor('a failed attempt', async () => (await admin.requests()).some((q) => q.status === 503));
  await admin.faults({ forceStatus: null });
  await waitFor('delivery', async () => (await admin.calls()).length === 1);
  await logger.close();
  const accepted = (await admin.requests()).filter((q) => q.method === 'POST' && q.callId === FIXTURE_CALL_ID && q.status !== null && q.status < 300);
  assert.equal(accepted.length, 1);
  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  assert.equal((await store.get(FIXTURE_CALL_ID))?.state, 'delivered');
});

test('session builder: startSession, addItem, addToolCall, then save the current session', async (t) => {
  const dir = tempDir(t);
  const config = configFor(dir, await downCrmUrl());
  const logger = new TranscriptLogger({ config, autoUpload: true });
  t.after(() => logger.close());
  await assert.rejects(logger.saveConversationSession(), { code: 'E_USAGE' });
  const session = logger.startSession();
  assert.match(session.session_id, /^session_\d{8}_\d{6}_[0-9a-f]{8}$/);
  logger.addItem({ role: 'assistant', content: 'Namaste!', source: 'agent' });
  logger.addItem({ role: 'user', content: 'I want a demo', source: 'transcription_node', transcript_confidence: 0.9 });
  logger.addToolCall('create_lead', { name: 'Asha Rao', phone: '9999900003' });
  const r = await logger.saveConversationSession();
  assert.equal(r.error, undefined);
  assert.equal(r.enqueued, true);
  assert.ok(r.callId?.endsWith(session.session_id.slice(-8)));
  await logger.flush(); // with auto-upload the file follows the enqueue
  const read = await readInputFile(r.file, { sourceTimezone: 'UTC' });
  assert.equal(read.kind, 'call');
  if (read.kind === 'call') {
    assert.equal(read.call.sessionId, session.session_id);
    assert.deepEqual(read.call.items.map((i) => i.content), ['Namaste!', 'I want a demo']);
    assert.ok(read.call.items.every((i) => i.timestamp?.endsWith('Z')));
    assert.deepEqual(read.call.toolCalls[0]?.arguments, { name: 'Asha Rao', phone: '9999900003' });
  }
  const doc = JSON.parse(readFileSync(r.file, 'utf8')) as Record<string, unknown>;
  assert.equal(doc.lead_generated, true);
  assert.equal(doc.total_items, 3);
  await assert.rejects(logger.saveConversationSession(), { code: 'E_USAGE' }, 'saving ends the current session');
});

test('close() leaves a store passed in open; saves after close() write the file and report E_CLOSED', async (t) => {
  const dir = tempDir(t);
  const config = configFor(dir, await downCrmUrl());
  const store = openSqliteOutbox(join(dir, 'mine.db'));
  t.after(() => store.close());
  const { logger: log } = memoryLogger();
  const logger = new TranscriptLogger({ config, autoUpload: true, outbox: store, logger: log });
  const pending = logger.saveConversationSession(fixtureSession());
  await logger.close(); // waits for the save under way
  assert.equal((await pending).enqueued, true);
  assert.equal((await store.get(FIXTURE_CALL_ID))?.state, 'pending', 'the caller’s store is still open');
  const late = await logger.saveConversationSession({ ...fixtureSession(), session_id: 'session_late_00000001' });
  assert.equal(late.error?.code, 'E_CLOSED');
  assert.ok(existsSync(late.file));
  assert.equal(existsSync(config.outbox), false, 'the configured outbox was never opened');
});
