import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENT_LOG_REASON } from '../../src/ingest/read-file.ts';
import { startTestCrm, crmAdmin } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIX = FIXTURES;
const LOGGER_FIXTURE = join(FIX, 'conversations/transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json');
const OGG = join(FIX, 'recordings/number-_919999900001-1761745857.ogg');

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function envFor(url: string, outboxDir = mkdtempSync(join(tmpdir(), 'crm-e2e-'))): Record<string, string> {
  return {
    CRM_API_URL: url,
    CRM_OUTBOX: join(outboxDir, 'outbox.db'),
    CRM_CAMPAIGN_ID: 'camp',
    CRM_VOICE_AGENT_ID: 'agent',
    CRM_CLIENT_ID: 'client',
    CRM_SOURCE_TIMEZONE: 'Asia/Kolkata',
    CRM_RATE_LIMIT: '0',
    CRM_RETRY_SCHEDULE: '20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms',
  };
}

type Req = { method: string; path: string; idempotencyKey: string | null; callId?: string | null };

test('send with a recording: one upload, then one call-data POST carrying its URL, size and duration', async () => {
  const crm = await startTestCrm();
  try {
    const r = await run(['send', LOGGER_FIXTURE, '--recording', OGG, '--json'], envFor(crm.callDataUrl));
    assert.equal(r.code, 0, r.stderr);
    const reqs = (await crmAdmin(crm.url).requests()) as Req[];
    assert.deepEqual(reqs.map((q) => q.path), ['/apis/api/public/upload', '/apis/api/public/call-data']);
    const calls = (await crmAdmin(crm.url).calls());
    assert.equal(calls.length, 1);
    assertValidPayload(calls[0]);
    const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { recordingUrl: string };
    assert.equal(calls[0]?.callDetails.recordingUrl, result.recordingUrl);
    assert.equal(calls[0]?.callDetails.recordingSize, 143347);
    assert.equal(calls[0]?.callDetails.recordingDuration, 8);
    assert.equal(calls[0]?.callDetails.callerNumber, '+919999900001');
  } finally {
    await crm.close();
  }
});

test('the same call sent twice (two fresh outboxes) is one call in the CRM, under one Idempotency-Key', async () => {
  const crm = await startTestCrm();
  try {
    for (let i = 0; i < 2; i++) {
      const r = await run(['send', LOGGER_FIXTURE], envFor(crm.callDataUrl));
      assert.equal(r.code, 0, r.stderr);
    }
    const posts = ((await crmAdmin(crm.url).requests()) as Req[]).filter((q) => q.path.endsWith('/call-data') && q.method === 'POST');
    assert.equal(posts.length, 2);
    assert.equal(new Set(posts.map((p) => p.idempotencyKey)).size, 1);
    assert.equal(((await crmAdmin(crm.url).calls()) as unknown[]).length, 1);
  } finally {
    await crm.close();
  }
});

test('send against a CRM failing half the time delivers; one slower than the timeout reports a timeout', async () => {
  const flaky = await startTestCrm({ failRate: 0.5, seed: 7 });
  try {
    const r = await run(['send', LOGGER_FIXTURE], envFor(flaky.callDataUrl));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(((await crmAdmin(flaky.url).calls()) as unknown[]).length, 1);
  } finally {
    await flaky.close();
  }
  const slow = await startTestCrm({ latencyMs: 3000 });
  try {
    // The 300 ms timeout ended the one attempt before the CRM's 3 s answer: failed, not delivered.
    const r = await run(['send', LOGGER_FIXTURE], { ...envFor(slow.callDataUrl), CRM_TIMEOUT_MS: '300', CRM_MAX_ATTEMPTS: '1' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tim(e|ed) ?out/i);
  } finally {
    await slow.close();
  }
});

test('bulk of the fixtures: every call delivered; a second run sends nothing and reports them skipped', async () => {
  const crm = await startTestCrm();
  try {
    const env = envFor(crm.callDataUrl);
    const args = ['bulk', join(FIX, 'conversations'), '--leads', join(FIX, 'leads'), '--recordings', join(FIX, 'recordings'), '--manifests', join(FIX, 'call_metadata'), '--json', '--no-progress'];
    const first = await run(args, env);
    assert.equal(first.code, 0, first.stderr);
    const s1 = JSON.parse(first.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.deepEqual({ ...s1, durationMs: 0 }, {
      success: 5, failed: 0, skipped: 0, pending: 0, dead: 0, total: 5, durationMs: 0, errors: [],
      unmatchedLeads: [join(FIX, 'leads/lead_20250929_133227.json')],
      skippedFiles: [{ file: join(FIX, 'conversations/event-log/transcripts.jsonl'), reason: EVENT_LOG_REASON }],
      interrupted: false,
    });
    const calls = (await crmAdmin(crm.url).calls()) as unknown as { callDetails: { callId: string; recordingUrl?: string }; lead: { email?: string } }[];
    assert.equal(calls.length, 5);
    for (const c of calls) assertValidPayload(c);
    const byId = new Map(calls.map((c) => [c.callDetails.callId, c]));
    assert.equal(byId.get('CALL-20251023-075634-7e155942')?.lead.email, 'asha.rao@example.com');
    assert.ok(byId.get('CALL-20251029-135057-99509edf')?.callDetails.recordingUrl, 'the manifest call carries its recording');
    const before = ((await crmAdmin(crm.url).requests()) as unknown[]).length;
    const second = await run(args, env);
    assert.equal(second.code, 0, second.stderr);
    const s2 = JSON.parse(second.stdout.trim().split('\n').pop() ?? '{}') as { success: number; skipped: number };
    assert.deepEqual([s2.success, s2.skipped], [0, 5]);
    assert.equal(((await crmAdmin(crm.url).requests()) as unknown[]).length, before, 'the second run sent nothing');
  } finally {
    await crm.close();
  }
});

test('bad input: malformed JSON is an error naming the file, exit 1, nothing sent; missing ids exit 2', async () => {
  const crm = await startTestCrm();
  try {
    const r = await run(['send', join(FIX, 'conversations'), '--dry-run'], envFor(crm.callDataUrl));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /directory/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const { CRM_CAMPAIGN_ID: _omit, ...noIds } = envFor(crm.callDataUrl);
    const r2 = await run(['send', LOGGER_FIXTURE, '--dry-run'], { ...noIds, CRM_CAMPAIGN_ID: '' });
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /CRM_CAMPAIGN_ID/);
    assert.equal(((await crmAdmin(crm.url).requests()) as unknown[]).length, 0);
  } finally {
    await crm.close();
  }
});
