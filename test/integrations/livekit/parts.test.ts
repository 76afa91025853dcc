import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { llm } from '@livekit/agents';
import { callerFromRoom, parseCallInfo, recoverPartials, sessionItemOf, sessionItemsOfHistory } from '../../../src/integrations/livekit/index.ts';
import { chooseSessionFileName, chronological } from '../../../src/integrations/livekit/finalize-session.ts';
import { currentOwner, ownerState } from '../../../src/integrations/livekit/journal-owner.ts';
import { journalFileName, parseJournal } from '../../../src/integrations/livekit/session-journal.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { downCrmUrl, sipParticipant, tempDir, testConfig } from './fakes.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('chat items of the real SDK classes become session items the format-1 reader knows', () => {
  const ctx = llm.ChatContext.empty();
  ctx.addMessage({ role: 'system', content: 'the prompt', createdAt: 1_761_732_979_000 });
  const hello = ctx.addMessage({ role: 'assistant', content: ['Hello', 'there'], createdAt: 1_761_732_980_000, interrupted: true });
  const heard = ctx.addMessage({ role: 'user', content: 'Hi', createdAt: 1_761_732_981_500, transcriptConfidence: 0.9 });
  ctx.insert(llm.FunctionCall.create({ callId: 'c1', name: 'create_lead', args: '{"name":"Ravi"}', createdAt: 1_761_732_982_000, id: 'item_fc' }));
  ctx.insert(llm.FunctionCallOutput.create({ callId: 'c1', name: 'create_lead', output: 'ok', isError: false, createdAt: 1_761_732_982_100, id: 'item_out' }));
  ctx.insert(llm.AgentHandoffItem.create({ newAgentId: 'closer', createdAt: 1_761_732_983_000, id: 'item_ho' }));
  const items = sessionItemsOfHistory(ctx.toJSON({ excludeTimestamp: false }));
  assert.deepEqual(items, [
    { id: hello.id, type: 'message', role: 'assistant', content: ['Hello', 'there'], interrupted: true, timestamp: '2025-10-29T10:16:20.000Z' },
    { id: heard.id, type: 'message', role: 'user', content: ['Hi'], interrupted: false, transcript_confidence: 0.9, timestamp: '2025-10-29T10:16:21.500Z' },
    { id: 'item_fc', type: 'function_call', name: 'create_lead', arguments: '{"name":"Ravi"}', call_id: 'c1', timestamp: '2025-10-29T10:16:22.000Z' },
    { id: 'item_out', type: 'function_call_output', name: 'create_lead', call_id: 'c1', output: 'ok', is_error: false, timestamp: '2025-10-29T10:16:22.100Z' },
    { id: 'item_ho', type: 'agent_handoff', new_agent_id: 'closer', timestamp: '2025-10-29T10:16:23.000Z' },
  ]);
  assert.deepEqual(sessionItemOf(hello), items[0], 'an instance (as events carry it) maps like its JSON');
  assert.equal(sessionItemOf(llm.ChatMessage.create({ role: 'user', content: [] })), null, 'no text, nothing to send');
  assert.equal(sessionItemOf(null), null);
  assert.deepEqual(chronological([items[2]!, items[0]!, { role: 'user', content: 'untimed' }, items[1]!]).map((i) => i.id ?? i.content), [hello.id, 'untimed', heard.id, 'item_fc'], 'an untimed item stays after the one before it');
});

test("the caller's number: a SIP participant's sip.phoneNumber first; nothing for a web call", () => {
  const room = (participants: object[]) => ({ remoteParticipants: new Map(participants.map((p, i) => [String(i), p])) });
  assert.equal(callerFromRoom(room([{ identity: 'web', kind: 0, attributes: {} }, sipParticipant('+919999900001')])), '+919999900001');
  assert.equal(callerFromRoom(room([{ identity: 'x', kind: 0, attributes: { 'sip.phoneNumber': '+15550100' } }, sipParticipant('+919999900009')])), '+919999900009');
  assert.equal(callerFromRoom(room([{ identity: 'x', kind: 0, attributes: { 'sip.phoneNumber': '+15550100' } }])), '+15550100');
  assert.equal(callerFromRoom(room([{ identity: 'web', kind: 0 }])), null);
  assert.equal(callerFromRoom(undefined), null);
});

test('campaign ids from job or room metadata: the seed names, nested campaign_metadata first; free text ignored', () => {
  assert.deepEqual(parseCallInfo('{"campaignId":"c","voiceAgentId":"v","clientId":"k"}'), { campaign: { campaignId: 'c', voiceAgentId: 'v', clientId: 'k' }, dialedNumber: null });
  assert.deepEqual(parseCallInfo('{"campaign_metadata":{"campaignId":"inner"},"campaign_id":"outer","client_id":"k","phone_number":"+919999900005"}'), {
    campaign: { campaignId: 'inner', clientId: 'k' },
    dialedNumber: '+919999900005',
  });
  for (const text of ['', 'hello', '[1,2]', '"x"', undefined]) assert.deepEqual(parseCallInfo(text), { campaign: {}, dialedNumber: null });
});

test('a journal is read line by line: a torn tail or a damaged line is skipped, a repeated item id replaced, a missing header refused', () => {
  const header = { kind: 'header', format: 'crm-upload/livekit-journal', version: 1, session_id: 's1', start_time: '2025-10-29T10:00:00.000Z', owner: { pid: 1, host: 'h' }, metadata: { a: 1 } };
  const text = [
    JSON.stringify(header),
    JSON.stringify({ kind: 'item', item: { id: 'i1', type: 'message', role: 'user', content: ['first'] } }),
    'garbage',
    JSON.stringify({ kind: 'meta', caller_number: '+919999900006', metadata: { b: 2 } }),
    JSON.stringify({ kind: 'item', item: { id: 'i1', type: 'message', role: 'user', content: ['first, corrected'] } }),
    JSON.stringify({ kind: 'end', end_time: '2025-10-29T10:01:00.000Z', file: 'f.json', recording_path: null }),
    JSON.stringify({ kind: 'end', end_time: '2025-10-29T10:02:00.000Z', file: 'g.json', recording_path: null }),
    '{"kind":"item","item":{"id":"i2"',
  ].join('\n');
  const { state, skippedLines } = parseJournal(text, 'j');
  assert.equal(skippedLines, 2);
  assert.deepEqual(state.items, [{ id: 'i1', type: 'message', role: 'user', content: ['first, corrected'] }]);
  assert.equal(state.callerNumber, '+919999900006');
  assert.deepEqual(state.metadata, { a: 1, b: 2 });
  assert.equal(state.end?.file, 'f.json', 'the first end line decides');
  assert.throws(() => parseJournal('{"kind":"item"}\n', 'j'), { code: 'E_JOURNAL_HEADER' });
  assert.equal(journalFileName('session/../x y'), 'livekit_session_.._x_y.jsonl.partial', 'no path separators in the name');
});

test('journal owners: this process is alive while it holds the journal; a dead pid is dead; another host is judged by age', async (t) => {
  const me = currentOwner();
  assert.equal(ownerState(me, '/not/held'), 'dead', 'this process, but no attachment holds it any more');
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  assert.equal(ownerState({ pid: Number(gone.stdout), host: me.host }, '/j'), 'dead');
  assert.equal(ownerState({ ...me, pid: process.ppid, procStart: '1' }, '/j'), me.procStart === undefined ? 'alive' : 'dead', 'a reused pid is not the writer');
  assert.equal(ownerState({ pid: 1, host: 'another-host' }, '/j'), 'unknown');

  // Another host's journal: fresh is a call going on; untouched for an hour, it is abandoned.
  const dir = tempDir(t);
  const config = testConfig(dir, await downCrmUrl());
  const conversations = join(dir, 'conversations');
  mkdirSync(conversations);
  const header = { kind: 'header', format: 'crm-upload/livekit-journal', version: 1, session_id: 'session_20251029_100000_0000abcd', start_time: '2025-10-29T10:00:00.000Z', owner: { pid: 1, host: 'another-host' }, metadata: {} };
  const journal = join(conversations, journalFileName(header.session_id));
  writeFileSync(journal, `${JSON.stringify(header)}\n${JSON.stringify({ kind: 'item', item: { type: 'message', role: 'user', content: ['hi'], timestamp: '2025-10-29T10:00:05.000Z' } })}\n`);
  const options = { config, logger: silentLogger() };
  assert.deepEqual((await recoverPartials(conversations, options)).map((r) => r.status), ['live']);
  const hourAgo = new Date(Date.now() - 61 * 60_000);
  utimesSync(journal, hourAgo, hourAgo);
  const [result] = await recoverPartials(conversations, options);
  assert.equal(result?.status, 'recovered', JSON.stringify(result?.error));
  assert.equal(result.callId, 'CALL-20251029-100000-0000abcd');
  assert.deepEqual(readdirSync(conversations), ['transcript_session_2025-10-29T10-00-05.000000.json']);
});

test("the session file's name is the call's end; another session's file with that name moves it on by a microsecond", async (t) => {
  const dir = tempDir(t);
  const end = Date.parse('2025-10-29T10:16:50.074Z');
  assert.equal(await chooseSessionFileName(dir, end, 's1'), 'transcript_session_2025-10-29T10-16-50.074000.json');
  writeFileSync(join(dir, 'transcript_session_2025-10-29T10-16-50.074000.json'), JSON.stringify({ session_id: 'other' }));
  assert.equal(await chooseSessionFileName(dir, end, 's1'), 'transcript_session_2025-10-29T10-16-50.074001.json');
  writeFileSync(join(dir, 'transcript_session_2025-10-29T10-16-50.074001.json'), JSON.stringify({ session_id: 's1' }));
  assert.equal(await chooseSessionFileName(dir, end, 's1'), 'transcript_session_2025-10-29T10-16-50.074001.json', 'its own file from a finalisation cut short');
});

test('the package and crm-upload/livekit load without @livekit/agents (an optional peer), and src imports it only as types', () => {
  const code = `
    import { registerHooks } from 'node:module';
    registerHooks({ resolve(specifier, context, next) {
      if (specifier.startsWith('@livekit/')) throw new Error('loaded ' + specifier);
      return next(specifier, context);
    } });
    await import(${JSON.stringify(join(ROOT, 'src/index.ts'))});
    const lk = await import(${JSON.stringify(join(ROOT, 'src/integrations/livekit/index.ts'))});
    await import(${JSON.stringify(join(ROOT, 'src/cli/program.ts'))});
    process.stdout.write(typeof lk.attachCrmUpload);`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: ROOT });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'function');
  for (const name of readdirSync(join(ROOT, 'src/integrations/livekit'))) {
    const text = readFileSync(join(ROOT, 'src/integrations/livekit', name), 'utf8');
    assert.ok(!/^import (?!type )[^;]*from '@livekit\//m.test(text), `${name} imports @livekit at run time`);
  }
});
