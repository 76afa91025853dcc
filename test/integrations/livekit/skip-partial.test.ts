import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { llm } from '@livekit/agents';
import { bulkUploadFromDirectory } from '../../../src/api/bulk-upload.ts';
import { watchFolders } from '../../../src/api/watch-folders.ts';
import { PARTIAL_REASON } from '../../../src/ingest/read-file.ts';
import { attachCrmUpload } from '../../../src/integrations/livekit/index.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { crmAdmin, startTestCrm } from '../../helpers/local-crm.ts';
import { fakeJob, FakeSession, sipParticipant, tempDir, testConfig } from './fakes.ts';

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('watch and bulk skip a call in progress (its .partial journal); watch takes the session file once the call ends', async (t) => {
  const dir = tempDir(t);
  const crm = await startTestCrm();
  t.after(() => crm.close());
  const config = { ...testConfig(dir, crm.callDataUrl), uploadUrl: crm.uploadUrl };
  const conversations = join(dir, 'conversations');

  const job = fakeJob({ jobId: 'AJ_watch' });
  const session = new FakeSession(llm.ChatContext.empty());
  const attachment = attachCrmUpload(job.ctx, session, { config, logger: silentLogger() });
  job.room.join(sipParticipant('+919999900004'));
  for (const [role, content] of [['assistant', 'Hello!'], ['user', 'Hi, I am calling about pricing.']] as const) {
    session.emit('conversation_item_added', { item: llm.ChatMessage.create({ role, content }) });
  }
  await attachment.ready;
  await attachment.flushed();

  const summary = await bulkUploadFromDirectory(conversations, { config, dryRun: true, onPayload: () => assert.fail('bulk must not build a payload from a journal') });
  assert.equal(summary.total, 0);
  assert.deepEqual(summary.errors, []);
  assert.deepEqual(summary.skippedFiles, [{ file: attachment.journalPath, reason: PARTIAL_REASON }]);

  const enqueued: { callId: string; file: string; enqueued: boolean }[] = [];
  const errors: { file: string; reason: string }[] = [];
  const watch = await watchFolders({
    config,
    conversationsDir: conversations,
    recordingsDir: null,
    pollMs: 40,
    recordingGraceMs: 0,
    logger: silentLogger(),
    onEnqueued: (e) => enqueued.push(e),
    onError: (e) => errors.push(e),
  });
  t.after(() => watch.stop());
  await sleep(300); // several scan cycles
  assert.deepEqual([enqueued, errors], [[], []], 'the journal is neither a call nor an error');

  await job.shutdown();
  const result = await attachment.finalize();
  assert.equal(result.error, undefined, JSON.stringify(result.error));
  await waitFor('watch to see the session file', () => enqueued.length > 0);
  assert.deepEqual(enqueued, [{ callId: result.callId, file: result.file, enqueued: false, recording: null }], 'already in the outbox: enqueued once');
  await waitFor('delivery by the watch worker', async () => (await crmAdmin(crm.url).calls()).length === 1);
  const [call] = await crmAdmin(crm.url).calls();
  assert.equal(call?.callDetails.callId, result.callId);
  assert.deepEqual(call?.transcription.conversation_items?.map((i) => i.content), ['Hello!', 'Hi, I am calling about pricing.']);
  assert.deepEqual(errors, []);
  await watch.stop();
});
