import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TranscriptLogger, type TranscriptSession } from '../../src/logger/transcript-logger.ts';
import { loadConfig } from '../../src/config/config.ts';
import { readInputFile } from '../../src/ingest/read-file.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmClientFor } from '../../src/api/delivery-session.ts';
import { startWorker } from '../../src/worker/worker.ts';
import { startTestCrm, crmAdmin } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { prepareCall } from '../../src/api/prepare-call.ts';

const session: TranscriptSession = {
  session_id: 'session_20251023_075614_7e155942',
  start_time: '2025-10-23 07:56:34.608343',
  end_time: '2025-10-23 07:57:04.608343',
  items: [
    { role: 'assistant', content: 'Namaste!', timestamp: '2025-10-23T07:56:34.608343Z', source: 'agent' },
    { role: 'user', content: 'Hello, I need help', timestamp: '2025-10-23T07:56:44.608343Z', source: 'transcription_node', transcript_confidence: 0.95 },
  ],
  metadata: {},
};

function setup(apiUrl: string, extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'crm-logger-'));
  const config = loadConfig({
    cwd: dir,
    envFile: null,
    env: {
      CRM_API_URL: apiUrl,
      CRM_OUTBOX: join(dir, 'outbox.db'),
      CRM_CAMPAIGN_ID: 'camp',
      CRM_VOICE_AGENT_ID: 'agent',
      CRM_CLIENT_ID: 'client',
      CRM_RATE_LIMIT: '0',
      CRM_RETRY_SCHEDULE: '50ms',
      CRM_MAX_ATTEMPTS: '50',
      ...extra,
    },
  });
  return { dir, config };
}

test('auto-upload off: the session is written atomically and read back; nothing is enqueued', async () => {
  const { dir, config } = setup('http://127.0.0.1:9/apis/api/public/call-data');
  const logger = new TranscriptLogger({ config, conversationsDir: join(dir, 'conversations'), autoUpload: false });
  const r = await logger.saveConversationSession(session);
  await logger.close();
  assert.equal(r.enqueued, false);
  assert.deepEqual(readdirSync(join(dir, 'conversations')).filter((f) => f.endsWith('.partial')), []);
  const read = await readInputFile(r.file, { sourceTimezone: 'UTC' });
  assert.equal(read.kind, 'call');
  if (read.kind === 'call') {
    assert.deepEqual(read.call.items.map((i) => i.content), ['Namaste!', 'Hello, I need help']);
    assert.equal(read.call.startTime, '2025-10-23T07:56:34.608Z');
  }
  const store = openSqliteOutbox(config.outbox);
  assert.equal((await store.counts()).pending, 0);
  await store.close();
});

test('CRM down: save returns in milliseconds, the call is queued, and delivered once the CRM is back', async () => {
  const gone = await startTestCrm();
  const deadUrl = gone.callDataUrl;
  await gone.close();
  const { dir, config } = setup(deadUrl);
  const logger = new TranscriptLogger({ config, conversationsDir: join(dir, 'conversations'), autoUpload: true });
  const t0 = performance.now();
  const r = await logger.saveConversationSession(session);
  const ms = performance.now() - t0;
  console.log(`saveConversationSession with the CRM down: ${ms.toFixed(1)} ms`);
  assert.ok(ms < 250, `took ${ms} ms`);
  assert.equal(r.enqueued, true);
  assert.equal(r.callId, 'CALL-20251023-075634-7e155942');
  const again = await logger.saveConversationSession(session);
  assert.equal(again.enqueued, false, 'the same call is enqueued once');
  await logger.close();

  const store = openSqliteOutbox(config.outbox);
  const item = await store.get('CALL-20251023-075634-7e155942');
  assert.equal(item?.state, 'pending');
  const expected = (await prepareCall({ transcript: r.file }, config)).payload;
  assertValidPayload(item?.payload);
  assert.deepEqual(item?.payload, expected);

  const crm = await startTestCrm();
  const live = { ...config, apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl };
  const client = crmClientFor(live);
  const worker = startWorker({ store, client, config: live, idleExit: true });
  await worker.done;
  await client.close();
  const calls = (await crmAdmin(crm.url).calls()) as { callDetails: { callId: string } }[];
  assert.deepEqual(calls.map((c) => c.callDetails.callId), ['CALL-20251023-075634-7e155942']);
  assert.equal((await store.get('CALL-20251023-075634-7e155942'))?.state, 'delivered');
  await store.close();
  await crm.close();
});

test('a call that cannot be mapped: the file is still written, the error is returned, nothing thrown', async () => {
  const { dir } = setup('http://127.0.0.1:9/x');
  const config = loadConfig({ cwd: dir, envFile: null, env: { CRM_OUTBOX: join(dir, 'o.db') } });
  const logger = new TranscriptLogger({ config, conversationsDir: join(dir, 'c'), autoUpload: true });
  const r = await logger.saveConversationSession(session);
  await logger.close();
  assert.equal(r.enqueued, false);
  assert.equal(r.error?.code, 'E_CONFIG');
  assert.equal(readdirSync(join(dir, 'c')).length, 1);
});

test('deliverInProcess delivers without an external worker', async () => {
  const crm = await startTestCrm();
  const { dir, config } = setup(crm.callDataUrl);
  const logger = new TranscriptLogger({ config, conversationsDir: join(dir, 'c'), autoUpload: true, deliverInProcess: true });
  await logger.saveConversationSession(session);
  const deadline = Date.now() + 10_000;
  let n = 0;
  while (Date.now() < deadline && (n = ((await crmAdmin(crm.url).calls()) as unknown[]).length) === 0) await new Promise((r) => setTimeout(r, 50));
  await logger.close();
  await crm.close();
  assert.equal(n, 1);
});
