import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { llm } from '@livekit/agents';
import { crmClientFor } from '../../../src/delivery/open-delivery.ts';
import { attachCrmUpload } from '../../../src/integrations/livekit/index.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { openSqliteOutbox } from '../../../src/outbox/sqlite-outbox-store.ts';
import type { CallPayload } from '../../../src/payload/call-payload.ts';
import { startWorker } from '../../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../../helpers/local-crm.ts';
import { assertValidPayload } from '../../helpers/payloads.ts';
import { downCrmUrl, fakeJob, FakeSession, sipParticipant, tempDir, testConfig } from './fakes.ts';
import { OGG_RECORDING } from '../../helpers/fixtures.ts';

const OGG = OGG_RECORDING;
const OGG_NAME = 'number-_919999900001-1761745857.ogg';
const at = (iso: string): number => Date.parse(iso);

/** pino lines written to memory, to check what is logged. */
function memoryLogger(level = 'warn') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.trim() !== ''));
      done();
    },
  });
  return { lines, logger: createLogger({ destination, level }) };
}

/**
 * One scripted call: the session announces its items as LiveKit does (`conversation_item_added` with
 * the real ChatMessage, `function_tools_executed` with the real FunctionCall and output), and its
 * history (a real ChatContext) holds the conversation as LiveKit keeps it.
 */
function scriptCall(session: FakeSession, history: llm.ChatContext): void {
  const say = (role: 'user' | 'assistant', content: string, iso: string, extra: { transcriptConfidence?: number } = {}, inHistory = true) => {
    const item = llm.ChatMessage.create({ role, content, createdAt: at(iso), ...extra });
    if (inHistory) history.insert(item);
    session.emit('conversation_item_added', { type: 'conversation_item_added', item, createdAt: at(iso) });
    return item;
  };
  history.addMessage({ role: 'system', content: 'You are Friday. (the prompt must not reach the CRM)', createdAt: at('2025-10-29T13:51:00.500Z') });
  say('assistant', 'Namaste! This is Friday from Xeny. How can I help?', '2025-10-29T13:51:01.000Z');
  say('user', 'I want a demo for my team.', '2025-10-29T13:51:05.500Z', { transcriptConfidence: 0.94 });
  const call = llm.FunctionCall.create({
    callId: 'call_lead_1',
    name: 'create_lead',
    args: JSON.stringify({ name: 'Asha Rao', email: 'asha.rao@example.com', company: 'Rao Logistics', interest: 'demo' }),
    createdAt: at('2025-10-29T13:51:20.000Z'),
  });
  const output = llm.FunctionCallOutput.create({ callId: 'call_lead_1', name: 'create_lead', output: 'saved', isError: false, createdAt: at('2025-10-29T13:51:20.400Z') });
  history.insert([call, output]);
  session.emit('function_tools_executed', { type: 'function_tools_executed', functionCalls: [call], functionCallOutputs: [output], createdAt: at('2025-10-29T13:51:20.400Z') });
  // The event carries the text as generated; the history's toJSON strips the expressive-TTS markup.
  say('assistant', 'Thank you, Asha! <expr emotion="happy"/>Our team will call you.', '2025-10-29T13:51:22.000Z');
  // The caller's last words, announced as the caller hangs up, before the history was copied anywhere.
  say('user', 'Bye!', '2025-10-29T13:51:38.000Z', {}, false);
  session.emit('close', { type: 'close', error: null, reason: 'participant_disconnected', createdAt: at('2025-10-29T13:51:40.250Z') });
}

const JOB_ID = 'AJ_crm_test_1';
const SESSION_ID = `session_20251029_135100_${createHash('sha256').update(`livekit-job:${JOB_ID}`).digest('hex').slice(0, 8)}`;
const CALL_ID = `CALL-20251029-135100-${SESSION_ID.slice(-8)}`;

/** The payload of the scripted call, written out by hand. */
const EXPECTED: CallPayload = {
  campaignId: 'camp-lk',
  voiceAgentId: 'agent-lk',
  client: 'client-lk',
  callDetails: {
    callId: CALL_ID,
    direction: 'inbound',
    startTime: '2025-10-29T13:51:00.000Z',
    endTime: '2025-10-29T13:51:40.250Z',
    duration: 40,
    status: 'completed',
    callerNumber: '+919999900001',
  },
  caller: { phoneNumber: '+919999900001' },
  transcription: {
    session_id: SESSION_ID,
    start_time: '2025-10-29T13:51:00.000Z',
    end_time: '2025-10-29T13:51:40.250Z',
    duration_seconds: 40.25,
    total_items: 4,
    conversation_items: [
      { role: 'assistant', content: 'Namaste! This is Friday from Xeny. How can I help?', timestamp: '2025-10-29T13:51:01.000Z', source: 'livekit', interrupted: false },
      { role: 'user', content: 'I want a demo for my team.', timestamp: '2025-10-29T13:51:05.500Z', source: 'livekit', transcript_confidence: 0.94, interrupted: false },
      { role: 'assistant', content: 'Thank you, Asha! Our team will call you.', timestamp: '2025-10-29T13:51:22.000Z', source: 'livekit', interrupted: false },
      { role: 'user', content: 'Bye!', timestamp: '2025-10-29T13:51:38.000Z', source: 'livekit', interrupted: false },
    ],
    lead_generated: true,
    metadata: {
      campaign_metadata: { campaignId: 'camp-lk', voiceAgentId: 'agent-lk', clientId: 'client-lk', dialedNumber: '+919999900001' },
      livekit: { job_id: JOB_ID, room: 'call-_919999900001_xyz', close_reason: 'participant_disconnected' },
    },
  },
  lead: {
    name: 'Asha Rao',
    email: 'asha.rao@example.com',
    company: 'Rao Logistics',
    interest: 'demo',
    phone: '',
    job_title: '',
    budget: '',
    timeline: '',
    timestamp: '2025-10-29T13:51:20.000Z',
    source: 'Friday AI Assistant',
    status: 'new',
  },
};

test('a scripted call: the exact payload is enqueued at shutdown with the CRM down, and a worker delivers it with its egress recording once the CRM is up', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'recordings'));
  copyFileSync(OGG, join(dir, 'recordings', OGG_NAME));
  // Another caller's recording in the same minutes: the number rules it out.
  copyFileSync(OGG, join(dir, 'recordings', 'number-_919999900077-1761745860.ogg'));
  const config = testConfig(dir, await downCrmUrl());
  const { lines, logger } = memoryLogger();

  const job = fakeJob({ jobId: JOB_ID, roomName: 'call-_919999900001_xyz', metadata: JSON.stringify({ campaignId: 'camp-lk', voiceAgentId: 'agent-lk', clientId: 'client-lk' }) });
  const history = llm.ChatContext.empty();
  const session = new FakeSession(history);
  const attachment = attachCrmUpload(job.ctx, session, { config, logger, startTime: '2025-10-29T13:51:00.000Z' });
  assert.equal(attachment.sessionId, SESSION_ID, 'derived from the job id: the same job gives the same callId');
  job.room.join(sipParticipant('+919999900001'));
  await attachment.ready;
  scriptCall(session, history);
  await attachment.flushed();
  assert.ok(existsSync(attachment.journalPath), 'the journal is on disk while the call runs');
  assert.match(attachment.journalPath, /\.partial$/);

  // That it never waits for the CRM is the next test's (a CRM that never answers, and sees nothing);
  // how long it takes is a figure of bench/livekit-shutdown.ts, not a test's.
  await job.shutdown();

  const result = await attachment.finalize();
  assert.equal(result.error, undefined, JSON.stringify(result.error));
  assert.deepEqual([result.callId, result.enqueued, result.state], [CALL_ID, true, 'pending']);
  assert.equal(existsSync(attachment.journalPath), false, 'the journal is gone');
  assert.deepEqual(readdirSync(join(dir, 'conversations')), [result.file?.split('/').pop()], 'one session file, nothing .partial left');
  assert.match(result.file ?? '', /transcript_session_2025-10-29T13-51-40\.250000\.json$/);
  assert.ok(!readFileSync(result.file ?? '', 'utf8').includes('the prompt must not reach the CRM'), 'no system prompt in the file');

  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  const item = await store.get(CALL_ID);
  assert.equal(item?.state, 'pending');
  assert.equal(item.attempts, 0, 'the agent never contacted the CRM');
  assert.equal(item.sourceFile, result.file);
  assert.equal(item.recording.path, join(dir, 'recordings', OGG_NAME), 'the egress recording of this caller, found by name and time');
  assertValidPayload(item.payload);
  assert.deepEqual(item.payload, EXPECTED);
  assert.ok(!lines.some((l) => l.includes('9999900001')), `the caller's number is masked in logs: ${lines.join('\n')}`);

  const crm = await startTestCrm();
  t.after(() => crm.close());
  const live = { ...config, apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl };
  const client = crmClientFor(live);
  const summary = await startWorker({ store, client, config: live, idleExit: true }).done;
  await client.close();
  assert.equal(summary.delivered, 1);
  const calls = await crmAdmin(crm.url).calls();
  assert.equal(calls.length, 1);
  const { recordingUrl, recordingSize, recordingDuration, ...details } = calls[0]?.callDetails ?? EXPECTED.callDetails;
  assert.deepEqual({ ...calls[0], callDetails: details }, EXPECTED, 'the CRM holds the enqueued payload');
  assert.match(recordingUrl ?? '', /^https?:\/\//);
  assert.deepEqual([recordingSize, recordingDuration], [143_347, 8], 'the worker read the recording when it uploaded it');
  assert.equal((await store.get(CALL_ID))?.state, 'delivered');
});

test('the shutdown callback never waits for the CRM: against one that never answers, five shutdowns complete and it sees no request', async (t) => {
  const dir = tempDir(t);
  // A CRM that holds every request unanswered: a shutdown that waited on it would not complete (the
  // request timeout here is far longer than the test's).
  const crm = await startTestCrm({ hangRate: 1 });
  t.after(() => crm.close());
  const config = testConfig(dir, crm.callDataUrl, { CRM_TIMEOUT_MS: '10m' });
  let shutdowns = 0;
  for (let i = 0; i < 5; i++) {
    const job = fakeJob({ jobId: `AJ_timing_${i}` });
    const history = llm.ChatContext.empty();
    const session = new FakeSession(history);
    const attachment = attachCrmUpload(job.ctx, session, { config, logger: memoryLogger().logger });
    job.room.join(sipParticipant('+919999900001'));
    await attachment.ready;
    for (let k = 0; k < 20; k++) {
      const item = history.addMessage({ role: k % 2 === 0 ? 'assistant' : 'user', content: `sentence number ${k} of a longer call` });
      session.emit('conversation_item_added', { item, createdAt: item.createdAt });
    }
    history.insert(llm.FunctionCall.create({ callId: 'c', name: 'create_lead', args: '{"name":"Asha Rao"}' }));
    await attachment.flushed();
    await job.shutdown();
    shutdowns += 1;
    const result = await attachment.finalize();
    assert.deepEqual([result.enqueued, result.error], [true, undefined]);
  }
  assert.equal(shutdowns, 5);
  assert.equal((await crmAdmin(crm.url).stats()).requests, 0, 'the agent never contacted the CRM');
  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  const counts = await store.counts();
  assert.deepEqual([counts.pending, counts.in_flight, counts.delivered], [5, 0, 0], 'all five wait for the worker; none was attempted');
});

test("the session's own recording (session.start({ record })) is the call's recording; without SIP the job metadata's number is the caller's", async (t) => {
  const dir = tempDir(t);
  const config = testConfig(dir, await downCrmUrl());
  const sessionDirectory = join(dir, 'livekit-agents', 'job-AJ_rec');
  const job = fakeJob({
    jobId: 'AJ_rec',
    sessionDirectory,
    metadata: JSON.stringify({ campaign_metadata: { campaignId: 'camp-out' }, phone_number: '9999900003' }),
  });
  const history = llm.ChatContext.empty();
  const session = new FakeSession(history);
  const attachment = attachCrmUpload(job.ctx, session, { config, logger: memoryLogger().logger, voiceAgentId: 'agent-opt' });
  await attachment.ready;
  // The recorder starts with session.start(), after attachCrmUpload: its path is read as the call goes on.
  session._recorderIO = { outputPath: join(sessionDirectory, 'audio.ogg'), recordingStartedAt: Date.now() };
  const hello = history.addMessage({ role: 'assistant', content: 'Hello, this is Friday calling about your enquiry.' });
  session.emit('conversation_item_added', { item: hello, createdAt: hello.createdAt });
  await job.shutdown();
  const result = await attachment.finalize();
  assert.equal(result.error, undefined, JSON.stringify(result.error));
  assert.equal(result.recording, join(sessionDirectory, 'audio.ogg'), 'the recorder may still be writing it: the worker waits for it');

  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  const item = await store.get(result.callId ?? '');
  assert.ok(item);
  assertValidPayload(item.payload);
  assert.equal(item.recording.path, join(sessionDirectory, 'audio.ogg'));
  assert.equal(item.payload.caller.phoneNumber, '+919999900003', 'an outbound dispatch names the number in its metadata');
  assert.deepEqual([item.payload.campaignId, item.payload.voiceAgentId, item.payload.client], ['camp-out', 'agent-opt', 'client'], 'options > job metadata > CRM_*');
  assert.equal(item.payload.transcription.conversation_items?.[0]?.content, 'Hello, this is Friday calling about your enquiry.');
  assert.deepEqual(item.payload.lead, {}, 'no lead without create_lead');
});

test('a call that cannot be enqueued (no campaign id anywhere) never throws into the agent; its journal stays for recover', async (t) => {
  const dir = tempDir(t);
  const config = testConfig(dir, await downCrmUrl(), { CRM_CAMPAIGN_ID: '' });
  const { lines, logger } = memoryLogger();
  const job = fakeJob({ jobId: 'AJ_noids' });
  const session = new FakeSession(llm.ChatContext.empty());
  const attachment = attachCrmUpload(job.ctx, session, { config, logger });
  session.emit('conversation_item_added', { item: llm.ChatMessage.create({ role: 'user', content: 'Hello?' }) });
  // A listener that throws would throw into LiveKit's emit(): ours never does, even for junk events.
  session.emit('conversation_item_added', null);
  session.emit('function_tools_executed', { functionCalls: 'nonsense' });
  await job.shutdown();
  const result = await attachment.finalize();
  assert.equal(result.error?.code, 'E_CONFIG');
  assert.match(result.error.message, /CRM_CAMPAIGN_ID/);
  assert.ok(existsSync(attachment.journalPath), 'kept for `crm-upload recover`');
  assert.ok(existsSync(result.file ?? ''), 'the session file is written anyway');
  assert.ok(lines.some((l) => l.includes('E_CONFIG')), lines.join('\n'));
  assert.deepEqual(await attachment.finalize(), result, 'finalize is idempotent');
});
