/**
 * `attachCrmUpload` on LiveKit's own session, not a stand-in: a real `voice.AgentSession` run by text
 * (`session.run({ userInput })`), the library's `voice.testing.FakeLLM` answering and calling a real
 * `create_lead` tool, a real `JobContext` shut down in the runner's order (agent-session-job.ts). The
 * call goes through the outbox and a worker to the local CRM, which must then hold it exactly once.
 * What needs a room (SIP caller, egress recording, room metadata) stays in attach-crm-upload.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { voice, type llm } from '@livekit/agents';
import { crmClientFor } from '../../../src/delivery/open-delivery.ts';
import { attachCrmUpload, readJournal, type CrmUploadAttachment, type FinalizeResult } from '../../../src/integrations/livekit/index.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { openSqliteOutbox } from '../../../src/outbox/sqlite-outbox-store.ts';
import type { CallPayload } from '../../../src/payload/call-payload.ts';
import { startWorker } from '../../../src/worker/worker.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../../helpers/local-crm.ts';
import { assertValidPayload } from '../../helpers/payloads.ts';
import { consoleJob, leadAgent, ScriptedLLM, textSession, watchNetwork, type LeadArguments } from './agent-session-job.ts';
import { tempDir, testConfig } from './fakes.ts';

const CALLER = '+919999900001';
const CAMPAIGN = { campaignId: 'camp-lk', voiceAgentId: 'agent-lk', clientId: 'client-lk' };
/** An agent dispatch's metadata: the campaign ids and the number dialed. */
const JOB_METADATA = JSON.stringify({ ...CAMPAIGN, phone_number: CALLER });
const ROOM = 'room-lk-1';

const HELLO = 'Hi, I would like a demo for my team.';
const ASK = 'Happy to help! May I have your name, email and company?';
const DETAILS = 'Asha Rao, asha.rao@example.com, Rao Logistics.';
const THANKS = 'Thank you, Asha! Our team will call you to set up the demo.';
const SORRY = 'Sorry, I could not save your details; a colleague will call you back.';
const STILL_THERE = 'Are you still there?';
const LEAD: LeadArguments = { name: 'Asha Rao', email: 'asha.rao@example.com', company: 'Rao Logistics', interest: 'demo' };

/** The model's script: an answer to the greeting, `create_lead` on the details, then the answer to the tool's output. */
const SCRIPT: voice.testing.FakeLLMResponse[] = [
  { input: HELLO, content: ASK },
  { input: DETAILS, toolCalls: [{ name: 'create_lead', args: LEAD }] },
  // A tool's output reaches the model as JSON text; a tool that threw gives LiveKit's generic error text.
  { input: '"saved"', content: THANKS },
  { input: 'An internal error occurred', content: SORRY },
];

/** The journal of a call that went as scripted, up to the model's answer to the tool's output. */
function journalOfLead(toolOutput: string, answer: string): string[][] {
  return [
    ['agent_handoff'],
    ['user', HELLO],
    ['assistant', ASK],
    ['user', DETAILS],
    ['function_call', 'create_lead', JSON.stringify(LEAD)],
    ['function_call_output', toolOutput],
    ['assistant', answer],
  ];
}
const JOURNALED_AS_SAID = "journaled from the session's conversation_item_added and function_tools_executed events, while the call was on";

/** The callId of docs/architecture.md, written out: `CALL-<YYYYMMDD-HHMMSS of the start>-<last 8 of the session id>`. */
function expectedCallId(startIso: string, sessionId: string): string {
  return `CALL-${startIso.slice(0, 10).replaceAll('-', '')}-${startIso.slice(11, 19).replaceAll(':', '')}-${sessionId.slice(-8)}`;
}

/** A journaled item in brief: `[role, text]` of a message, `[type, name, arguments]` of a tool call, `[type, output]` of its output, `[type]` else. */
function brief(entry: object): string[] {
  const item = entry as Record<string, unknown>;
  if (item.type === 'message') return [String(item.role), (item.content as string[]).join(' ')];
  if (item.type === 'function_call') return ['function_call', String(item.name), String(item.arguments)];
  if (item.type === 'function_call_output') return ['function_call_output', String(item.output)];
  return [String(item.type)];
}

interface CallRun {
  jobId: string;
  attachment: CrmUploadAttachment;
  result: FinalizeResult;
  session: voice.AgentSession;
  close: voice.CloseEvent;
  /** Arguments `create_lead` ran with. */
  toolCalls: LeadArguments[];
  /** The journal on disk once the turns were said, before the session closed: what the events announced. */
  journaled: string[][];
  crm: LocalCrm;
  /** The local CRM's stored calls, after a worker delivered the outbox. */
  stored: CallPayload[];
}

/**
 * One call: attach, start the session, say `userTurns` one after the other (each waits for the
 * agent's reply), then end it as the job runner does. A session that closed by itself (an error)
 * closes before the job shuts down, as a real one does. Then a worker delivers the outbox.
 */
async function runCall(t: TestContext, jobId: string, userTurns: string[], opts: { saveLead: (args: LeadArguments) => Promise<string>; outageOn?: string[] }): Promise<CallRun> {
  const network = watchNetwork();
  t.after(() => network.stop());
  const crm = await startTestCrm();
  t.after(() => crm.close());
  const dir = tempDir(t, 'crm-lk-session-');
  const config = testConfig(dir, crm.callDataUrl);

  const toolCalls: LeadArguments[] = [];
  const agent = leadAgent(async (args) => {
    toolCalls.push(args);
    return opts.saveLead(args);
  });
  const session = textSession(new ScriptedLLM(SCRIPT, opts.outageOn));
  const closed = new Promise<voice.CloseEvent>((resolve) => session.once(voice.AgentSessionEventTypes.Close, resolve));
  const job = consoleJob({ jobId, metadata: JOB_METADATA, roomName: ROOM });
  let journaled: string[][] = [];

  const attachment = await job.run(async (ctx) => {
    // As the README's example: attached before session.start().
    const attached = attachCrmUpload(ctx, session, { config, logger: silentLogger() });
    await session.start({ agent });
    for (const userInput of userTurns) await session.run({ userInput }).wait();
    await attached.flushed();
    journaled = (await readJournal(attached.journalPath)).state.items.map(brief);
    return attached;
  });
  if (opts.outageOn !== undefined) await closed;
  await job.shutdown(session);
  const close = await closed;
  const result = await attachment.finalize();
  assert.equal(result.error, undefined, JSON.stringify(result.error));
  assert.deepEqual([result.enqueued, result.state], [true, 'pending'], 'enqueued at shutdown; nothing sent yet');

  const store = openSqliteOutbox(config.outbox);
  t.after(() => store.close());
  const client = crmClientFor(config);
  const summary = await startWorker({ store, client, config, idleExit: true }).done;
  await client.close();
  assert.deepEqual([summary.attempts, summary.delivered, summary.retried, summary.dead], [1, 1, 0, 0], 'one attempt, delivered');
  assert.equal((await store.get(result.callId ?? ''))?.state, 'delivered');
  const stored = await crmAdmin(crm.url).calls();

  // The session reached nothing but the local CRM: no model, no LiveKit server, no download.
  const crmPort = new URL(crm.url).port;
  assert.deepEqual(
    network.connections.filter((c) => c !== `127.0.0.1:${crmPort}`),
    [],
    'every connection went to the local CRM',
  );
  assert.deepEqual(network.lookups, [], 'no host name was looked up');
  return { jobId, attachment, result, session, close, toolCalls, journaled, crm, stored };
}

/** The call as the CRM must hold it: the messages said, in order, at the times the session gave them. */
function expectedPayload(run: CallRun, said: [role: 'user' | 'assistant', text: string][], closeReason: string): CallPayload {
  const { attachment, close, session } = run;
  const start = attachment.startTime;
  const end = new Date(close.createdAt).toISOString();
  const messages = session.history.items.filter((i): i is llm.ChatMessage => i.type === 'message' && (i.role === 'user' || i.role === 'assistant'));
  const timeOf = (role: string, text: string): string => {
    const found = messages.find((m) => m.role === role && m.textContent === text);
    assert.ok(found, `the session's history holds the ${role}'s "${text}"`);
    return new Date(found.createdAt).toISOString();
  };
  const call = session.history.items.find((i) => i.type === 'function_call' && i.name === 'create_lead');
  assert.ok(call, "the session's history holds the create_lead call");
  const seconds = (Date.parse(end) - Date.parse(start)) / 1000;
  return {
    campaignId: CAMPAIGN.campaignId,
    voiceAgentId: CAMPAIGN.voiceAgentId,
    client: CAMPAIGN.clientId,
    callDetails: {
      callId: expectedCallId(start, attachment.sessionId),
      direction: 'inbound',
      startTime: start,
      endTime: end,
      duration: Math.round(seconds),
      status: 'completed',
      callerNumber: CALLER,
    },
    caller: { phoneNumber: CALLER },
    transcription: {
      session_id: attachment.sessionId,
      start_time: start,
      end_time: end,
      duration_seconds: seconds,
      total_items: said.length,
      conversation_items: said.map(([role, text]) => ({ role, content: text, timestamp: timeOf(role, text), source: 'livekit', interrupted: false })),
      lead_generated: true,
      metadata: {
        campaign_metadata: { ...CAMPAIGN, dialedNumber: CALLER },
        livekit: { job_id: run.jobId, room: ROOM, close_reason: closeReason },
      },
    },
    lead: {
      ...LEAD,
      phone: '',
      job_title: '',
      budget: '',
      timeline: '',
      timestamp: new Date(call.createdAt).toISOString(),
      source: 'Friday AI Assistant',
      status: 'new',
    },
  };
}

/** The one call-data POST the local CRM received, and what it answered. */
async function callDataPosts(crm: LocalCrm): Promise<{ callId: string | null; status: number | null }[]> {
  const requests = await crmAdmin(crm.url).requests();
  return requests.filter((r) => r.method === 'POST' && r.path === new URL(crm.callDataUrl).pathname).map((r) => ({ callId: r.callId, status: r.status }));
}

/** The session file the call was finalised into: one file, no journal left behind. */
function sessionFileOf(run: CallRun): Record<string, unknown> {
  const file = run.result.file ?? '';
  const dir = join(file, '..');
  assert.deepEqual(readdirSync(dir), [file.slice(dir.length + 1)], 'one session file in the conversations folder, no .partial journal');
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

test('a real AgentSession: two user turns, create_lead called with arguments, session closed → the CRM holds the call once, in order, with the lead from the arguments', { timeout: 120_000 }, async (t) => {
  const run = await runCall(t, 'AJ_session_ok', [HELLO, DETAILS], { saveLead: async () => 'saved' });
  assert.equal(run.close.reason, 'user_initiated', 'the job shutdown closed the session');
  assert.deepEqual(run.toolCalls, [LEAD], 'the tool ran once, with the arguments the model gave');
  assert.deepEqual(run.journaled, journalOfLead('"saved"', THANKS), JOURNALED_AS_SAID);

  assert.equal(run.stored.length, 1, 'exactly one call stored');
  const [stored] = run.stored;
  assertValidPayload(stored);
  const said: [role: 'user' | 'assistant', text: string][] = [
    ['user', HELLO],
    ['assistant', ASK],
    ['user', DETAILS],
    ['assistant', THANKS],
  ];
  assert.deepEqual(stored, expectedPayload(run, said, 'user_initiated'));
  assert.deepEqual(await callDataPosts(run.crm), [{ callId: run.result.callId ?? null, status: 201 }], 'one call-data request, answered 201 Created');

  // The session file keeps the tool call and its output beside the messages (the payload carries the lead).
  const items = sessionFileOf(run).items as { type: string; name?: string; arguments?: string; output?: string; is_error?: boolean }[];
  const calls = items.filter((i) => i.type === 'function_call');
  assert.deepEqual(calls.map((i) => [i.name, JSON.parse(i.arguments ?? '{}')]), [['create_lead', LEAD]]);
  assert.deepEqual(items.filter((i) => i.type === 'function_call_output').map((i) => [i.output, i.is_error]), [['"saved"', false]]);
});

test('a real AgentSession closed by an error (the model provider fails on the third turn): the call arrives once, with everything said before', { timeout: 120_000 }, async (t) => {
  const run = await runCall(t, 'AJ_session_error', [HELLO, DETAILS, STILL_THERE], { saveLead: async () => 'saved', outageOn: [STILL_THERE] });
  assert.equal(run.close.reason, 'error', 'the session closed itself on the unrecoverable model error');
  assert.match(String((run.close.error as { error?: unknown } | null)?.error), /the model provider is down/);
  assert.deepEqual(run.toolCalls, [LEAD]);
  assert.deepEqual(run.journaled, [...journalOfLead('"saved"', THANKS), ['user', STILL_THERE]], JOURNALED_AS_SAID);

  assert.equal(run.stored.length, 1, 'exactly one call stored');
  const [stored] = run.stored;
  assertValidPayload(stored);
  const said: [role: 'user' | 'assistant', text: string][] = [
    ['user', HELLO],
    ['assistant', ASK],
    ['user', DETAILS],
    ['assistant', THANKS],
    ['user', STILL_THERE],
  ];
  assert.deepEqual(stored, expectedPayload(run, said, 'error'));
  assert.deepEqual(await callDataPosts(run.crm), [{ callId: run.result.callId ?? null, status: 201 }], 'one call-data request, answered 201 Created');
  sessionFileOf(run);
});

test('a real AgentSession whose create_lead tool throws: the call arrives once, with what was said and the lead the caller gave', { timeout: 120_000 }, async (t) => {
  const run = await runCall(t, 'AJ_session_tool_throws', [HELLO, DETAILS], {
    saveLead: async () => {
      throw new Error('the lead sheet is down');
    },
  });
  assert.equal(run.close.reason, 'user_initiated');
  assert.deepEqual(run.toolCalls, [LEAD], 'the tool ran once, and threw');
  assert.deepEqual(run.journaled, journalOfLead('An internal error occurred', SORRY), JOURNALED_AS_SAID);

  assert.equal(run.stored.length, 1, 'exactly one call stored');
  const [stored] = run.stored;
  assertValidPayload(stored);
  const said: [role: 'user' | 'assistant', text: string][] = [
    ['user', HELLO],
    ['assistant', ASK],
    ['user', DETAILS],
    ['assistant', SORRY],
  ];
  // The agent's own save failed, but the caller gave these details: the CRM still gets the lead.
  assert.deepEqual(stored, expectedPayload(run, said, 'user_initiated'));
  assert.deepEqual(await callDataPosts(run.crm), [{ callId: run.result.callId ?? null, status: 201 }], 'one call-data request, answered 201 Created');

  const items = sessionFileOf(run).items as { type: string; output?: string; is_error?: boolean }[];
  assert.deepEqual(
    items.filter((i) => i.type === 'function_call_output').map((i) => [i.output, i.is_error]),
    [['An internal error occurred', true]],
    "the tool's failure is kept in the session file as LiveKit recorded it (its message is not: it may hold secrets)",
  );
});
