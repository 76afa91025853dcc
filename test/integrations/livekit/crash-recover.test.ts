import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { llm } from '@livekit/agents';
import { attachCrmUpload, recoverPartials } from '../../../src/integrations/livekit/index.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { openSqliteOutbox } from '../../../src/outbox/sqlite-outbox-store.ts';
import { assertValidPayload } from '../../helpers/payloads.ts';
import { runCli } from '../../worker/child.ts';
import { downCrmUrl, fakeJob, FakeSession, tempDir, testConfig, testEnv } from './fakes.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** Run the crash child until its items are journaled, then SIGKILL it; resolves to its journal. */
async function crashMidCall(dir: string, env: Record<string, string>, check?: (journal: string) => Promise<void>): Promise<string> {
  const child = spawn(process.execPath, [CHILD], { cwd: dir, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const journal = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /journaled (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    exited.then(() => reject(new Error(`the child exited before journaling: ${err}`)), reject);
  });
  try {
    await check?.(journal);
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(await exited, 'SIGKILL');
  return journal;
}

test('items appended before a SIGKILL are in the .partial journal; `crm-upload recover` finalises it once, with every item', async (t) => {
  const dir = tempDir(t);
  const env = testEnv(dir, await downCrmUrl(), { CRASH_ITEMS: '6', CRASH_JOB_ID: 'AJ_crash_cli' });
  const journal = await crashMidCall(dir, env, async (path) => {
    // While the call runs, recovery leaves its journal alone.
    const results = await recoverPartials(join(dir, 'conversations'), { config: testConfig(dir, env.CRM_API_URL ?? ''), logger: silentLogger() });
    assert.deepEqual(results.map((r) => [r.journal, r.status]), [[path, 'live']]);
  });

  assert.match(journal, /conversations\/livekit_session_20251029_101619_[0-9a-f]{8}\.jsonl\.partial$/);
  const lines = readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines[0]?.kind, 'header');
  const items = lines.filter((l) => l.kind === 'item').map((l) => (l.item as { content: string[] }).content[0]);
  assert.deepEqual(items, ['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5'], 'every item said before the crash');
  assert.ok(lines.some((l) => l.kind === 'meta' && l.caller_number === '+919999900002'), 'the caller, journaled as soon as known');
  assert.deepEqual(readdirSync(join(dir, 'conversations')), [journal.split('/').pop()], 'only the journal: nothing a reader would take');

  const before = readFileSync(journal);
  const first = await runCli(['recover', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  const summary = JSON.parse(first.stdout.trim().split('\n').pop() ?? '{}') as { recovered: number; results: { callId: string; enqueued: boolean; file: string }[] };
  assert.equal(summary.recovered, 1);
  const [recovered] = summary.results;
  assert.ok(recovered?.enqueued);
  assert.match(recovered.callId, /^CALL-20251029-101619-[0-9a-f]{8}$/);
  assert.equal(existsSync(journal), false, 'the journal is removed');

  const store = openSqliteOutbox(env.CRM_OUTBOX ?? '');
  t.after(() => store.close());
  const item = await store.get(recovered.callId);
  assert.equal(item?.state, 'pending');
  assertValidPayload(item.payload);
  assert.deepEqual(item.payload.transcription.conversation_items?.map((i) => i.content), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  assert.equal(item.payload.callDetails.callerNumber, '+919999900002');
  assert.equal(item.payload.campaignId, 'camp-crash');
  assert.deepEqual([item.payload.callDetails.startTime, item.payload.callDetails.endTime], ['2025-10-29T10:16:19.000Z', '2025-10-29T10:16:25.000Z'], 'a crashed call ends at its last item');

  // A crash right after the enqueue, before the journal was removed: the next recovery enqueues nothing
  // and reuses the same session file.
  writeFileSync(journal, before);
  const second = await runCli(['recover', '--json'], env);
  assert.equal(second.code, 0, second.stderr);
  const again = JSON.parse(second.stdout.trim().split('\n').pop() ?? '{}') as { recovered: number; results: { callId: string; enqueued: boolean; state: string; file: string }[] };
  assert.deepEqual(again.results.map((r) => [r.callId, r.enqueued, r.state, r.file]), [[recovered.callId, false, 'pending', recovered.file]]);
  assert.deepEqual(readdirSync(join(dir, 'conversations')), [recovered.file.split('/').pop()], 'one session file, no journal');
  const counts = await store.counts();
  assert.equal(counts.pending + counts.in_flight + counts.delivered + counts.dead, 1, 'enqueued once');
  assert.deepEqual(await recoverPartials(join(dir, 'conversations'), { config: testConfig(dir, env.CRM_API_URL ?? ''), logger: silentLogger() }), [], 'nothing left to recover');
});

test("the next call's attachCrmUpload finalises the journal a crashed call left", async (t) => {
  const dir = tempDir(t);
  const env = testEnv(dir, await downCrmUrl(), { CRASH_ITEMS: '3', CRASH_JOB_ID: 'AJ_crash_next' });
  const journal = await crashMidCall(dir, env);
  // A line cut by the crash (the process died inside a write).
  appendFileSync(journal, '{"kind":"item","item":{"type":"message","role":"user","cont');

  const config = testConfig(dir, env.CRM_API_URL ?? '');
  const job = fakeJob({ jobId: 'AJ_next_call' });
  const attachment = attachCrmUpload(job.ctx, new FakeSession(llm.ChatContext.empty()), { config, logger: silentLogger() });
  const recovered = await attachment.recovered;
  assert.deepEqual(recovered.map((r) => [r.journal, r.status, r.enqueued]), [[journal, 'recovered', true]]);
  assert.equal(existsSync(journal), false);
  assert.ok(existsSync(attachment.journalPath), 'its own journal is untouched');
  await job.shutdown();

  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  const item = await store.get(recovered[0]?.callId ?? '');
  assert.deepEqual(item?.payload.transcription.conversation_items?.map((i) => i.content), ['line 0', 'line 1', 'line 2'], 'the torn line is left out');
  assert.equal((await store.counts()).pending, 2, 'the crashed call and the new one');
});
