/**
 * `crm-upload send` end to end: the real CLI in a child process against the real local CRM over HTTP
 * (issue 3, "Done when"). Every payload seen — printed by `--dry-run` or stored by the CRM — is checked
 * against the shared contract with the test's own validator.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crmAdmin, withCrm } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { BAD, cliEnv, FIX, LOGGER_FIXTURE, OGG, OGG_SIZE, runCli, STACK_LINE, stdoutLines, removeTempDirs, tempDir, type CliResult } from './run-cli.ts';

after(removeTempDirs);

const CONV = join(FIX, 'conversations');
const MANIFEST = join(FIX, 'call_metadata/metadata_session_20251029_135057_99509edf.json');
const CALL_DATA = '/apis/api/public/call-data';
const UPLOAD = '/apis/api/public/upload';

/** The one payload a `--dry-run` printed: exactly one stdout line, contract-valid. */
function dryRunPayload(r: CliResult, what: string): CallPayload {
  assert.equal(r.code, 0, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  const lines = stdoutLines(r);
  assert.equal(lines.length, 1, `${what}: --dry-run prints exactly one line on stdout, got ${lines.length}`);
  const payload = JSON.parse(lines[0] ?? '') as CallPayload;
  assertValidPayload(payload);
  return payload;
}

const ASHA_ITEMS = ['Hi I am assistant of Asha Rao', 'Thank you contacting'] as const;
const MONGO_ROLES = ['assistant', 'user', 'assistant', 'user', 'user', 'user', 'assistant', 'user', 'assistant'];

/**
 * What each conversation fixture must give, read off the fixture files themselves (times converted by
 * hand: legacy values are naive IST, logger sessions naive UTC; derived session ids use the SHA-256 of
 * the file's base name, checked with sha256sum).
 */
const EXPECTED: Record<string, { callId: string; start: string; end: string; roles: string[]; first?: string; last?: string }> = {
  'transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json': {
    callId: 'CALL-20251023-075634-7e155942',
    start: '2025-10-23T07:56:34.608Z',
    end: '2025-10-23T07:57:04.608Z',
    roles: ['assistant', 'user', 'assistant'],
    first: 'Namaste! Main Urban Piper se piperbot bol rahi hoon.',
    last: 'Thank you, Asha. Our team will call you back today.',
  },
  'legacy/conversation_20251007_164256.json': {
    // 16:42:56.532626 IST → 11:12:56.532 UTC; 16:46:25.290973 IST → 11:16:25.290 UTC; `agent` → assistant.
    callId: 'CALL-20251007-111256-e61fe26a',
    start: '2025-10-07T11:12:56.532Z',
    end: '2025-10-07T11:16:25.290Z',
    roles: 'user assistant user assistant user user assistant user assistant user assistant user user user user assistant user user assistant user assistant user assistant'.split(' '),
    first: '.',
    last: 'Aapka swagat hai, Asha Rao ji! Agar aapko future mein aur koi jaankari chahiye ho, toh please bataiyega.',
  },
  'legacy/conversation_20251008_154901.json': {
    // `[]`: still a call, timed by its name (15:49:01 IST = 10:19:01 UTC), start = end.
    callId: 'CALL-20251008-101901-fd67b735',
    start: '2025-10-08T10:19:01.000Z',
    end: '2025-10-08T10:19:01.000Z',
    roles: [],
  },
  'livekit-history/transcript_session_2025-10-29T10-16-54.630373.json': {
    // No times: the file name's (UTC) time is both start and end.
    callId: 'CALL-20251029-101654-cd04cac9',
    start: '2025-10-29T10:16:54.630Z',
    end: '2025-10-29T10:16:54.630Z',
    roles: MONGO_ROLES,
    first: ASHA_ITEMS[0],
    last: ASHA_ITEMS[1],
  },
  'mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json': {
    callId: 'CALL-20251029-101619-b4ce4c7b',
    start: '2025-10-29T10:16:19.574Z',
    end: '2025-10-29T10:16:52.652Z',
    roles: MONGO_ROLES,
    first: ASHA_ITEMS[0],
    last: ASHA_ITEMS[1],
  },
  'mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session17617458.json': {
    callId: 'CALL-20251029-135057-99509edf',
    start: '2025-10-29T13:50:57.987Z',
    end: '2025-10-29T13:51:32.276Z',
    roles: MONGO_ROLES,
    first: ASHA_ITEMS[0],
    last: ASHA_ITEMS[1],
  },
};

describe('crm-upload send', { concurrency: 3 }, () => {
  test('--dry-run of every conversation fixture prints one contract-valid payload; the event log is refused', async () => {
    const fixtures = ['transcript-logger', 'legacy', 'livekit-history', 'mongo-export'].flatMap((d) => readdirSync(join(CONV, d)).map((f) => `${d}/${f}`));
    assert.deepEqual(fixtures.slice().sort(), Object.keys(EXPECTED).sort(), 'a new fixture needs its expectations here');
    const env = cliEnv('http://127.0.0.1:9/unused/call-data');
    const eventLog = join(CONV, 'event-log/transcripts.jsonl');
    const [logRun, ...runs] = await Promise.all([
      runCli(['send', eventLog, '--dry-run'], env),
      ...fixtures.map((f) => runCli(['send', join(CONV, f), '--dry-run'], env)),
    ]);
    fixtures.forEach((f, i) => {
      const p = dryRunPayload(runs[i] as CliResult, f);
      const want = EXPECTED[f];
      assert.ok(want);
      const items = p.transcription.conversation_items ?? [];
      assert.equal(p.callDetails.callId, want.callId, f);
      assert.equal(p.callDetails.startTime, want.start, `${f} start (UTC)`);
      assert.equal(p.callDetails.endTime, want.end, `${f} end (UTC)`);
      assert.equal(p.transcription.start_time, want.start, f);
      assert.equal(items.length, want.roles.length, `${f} item count`);
      assert.equal(p.transcription.total_items, want.roles.length, `${f} total_items`);
      assert.deepEqual(items.map((it) => it.role), want.roles, `${f} roles in order`);
      if (want.first !== undefined) assert.equal(items[0]?.content, want.first, `${f} first item`);
      if (want.last !== undefined) assert.equal(items.at(-1)?.content, want.last, `${f} last item`);
    });
    // Mongo exports carry their own ids, which win over the configured ones.
    const mongo = JSON.parse(stdoutLines(runs[fixtures.indexOf('mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json')] as CliResult)[0] ?? '') as CallPayload;
    assert.deepEqual([mongo.campaignId, mongo.voiceAgentId, mongo.client], ['68ff5c0f015cbf44dd9f336c', '68ff5b90015cbf44dd9f3269', '68ff5a88015cbf44dd9f3006']);

    assert.equal(logRun?.code, 1, logRun?.stderr);
    assert.equal(logRun?.stdout, '', 'no payload for the event log');
    assert.match(logRun?.stderr ?? '', /not a call/);
    assert.ok(logRun?.stderr.includes(eventLog), 'the error names the file');
    assert.doesNotMatch(logRun?.stderr ?? '', STACK_LINE);
  });

  test('--dry-run prints the exact payload of the transcript-logger fixture (lead from create_lead, E.164, UTC)', async () => {
    const r = await runCli(['send', LOGGER_FIXTURE, '--caller-phone', '9999900001', '--dry-run'], cliEnv('http://127.0.0.1:9/unused/call-data'));
    const p = dryRunPayload(r, 'transcript-logger');
    assert.deepEqual(p, {
      campaignId: 'camp',
      voiceAgentId: 'agent',
      client: 'client',
      callDetails: {
        callId: 'CALL-20251023-075634-7e155942',
        direction: 'inbound',
        startTime: '2025-10-23T07:56:34.608Z',
        endTime: '2025-10-23T07:57:04.608Z',
        duration: 30,
        status: 'completed',
        callerNumber: '+919999900001',
      },
      caller: { phoneNumber: '+919999900001' },
      transcription: {
        session_id: 'session_20251023_075614_7e155942',
        start_time: '2025-10-23T07:56:34.608Z',
        end_time: '2025-10-23T07:57:04.608Z',
        duration_seconds: 30,
        total_items: 3,
        conversation_items: [
          { role: 'assistant', content: 'Namaste! Main Urban Piper se piperbot bol rahi hoon.', timestamp: '2025-10-23T07:56:34.608Z', source: 'agent' },
          { role: 'user', content: 'Hello, I need help', timestamp: '2025-10-23T07:56:44.608Z', source: 'transcription_node', transcript_confidence: 0.95 },
          { role: 'assistant', content: 'Thank you, Asha. Our team will call you back today.', timestamp: '2025-10-23T07:56:58.731Z', source: 'agent' },
        ],
        lead_generated: true,
        metadata: {},
      },
      // No lead file given: the lead comes from the create_lead arguments, timed by that tool call.
      lead: {
        name: 'Asha Rao',
        email: 'asha.rao@example.com',
        company: 'Tech Corp',
        interest: 'AI Solutions',
        phone: '9999900003',
        job_title: '',
        budget: '',
        timeline: '',
        timestamp: '2025-10-23T07:56:55.102Z',
        source: 'Friday AI Assistant',
        status: 'new',
      },
    });
  });

  test('--recording: one upload, then one call-data POST carrying the uploaded URL, size 143347 and duration 8', async () => {
    await withCrm({}, async (crm) => {
      const r = await runCli(['send', LOGGER_FIXTURE, '--recording', OGG], cliEnv(crm.callDataUrl));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '', 'nothing on stdout without --json');
      const reqs = await crmAdmin(crm.url).requests();
      assert.deepEqual(
        reqs.map((q) => [q.method, q.path, q.status]),
        [
          ['POST', UPLOAD, 200],
          ['POST', CALL_DATA, 201],
        ],
      );
      const uploads = crm.state.store.uploads();
      assert.equal(uploads.length, 1);
      assert.equal(uploads[0]?.size, OGG_SIZE);
      const uploadedUrl = (uploads[0]?.response.body as { data: { url: string } }).data.url;
      assert.match(uploadedUrl, /^http:\/\/127\.0\.0\.1:\d+\//);
      const calls = await crmAdmin(crm.url).calls();
      assert.equal(calls.length, 1);
      const call = calls[0] as CallPayload;
      assertValidPayload(call);
      assert.equal(call.callDetails.callId, 'CALL-20251023-075634-7e155942');
      assert.equal(call.callDetails.recordingUrl, uploadedUrl, 'recordingUrl is the URL the upload answered');
      assert.equal(call.callDetails.recordingSize, OGG_SIZE);
      assert.equal(call.callDetails.recordingDuration, 8);
      // The caller number comes from the recording's name when nothing stronger gives one.
      assert.equal(call.callDetails.callerNumber, '+919999900001');
      assert.ok(r.stderr.includes(uploadedUrl), 'the confirmation names the recording URL');
    });
  });

  test('the same call sent twice (fresh outbox each time) is one call in the CRM, both POSTs under one Idempotency-Key', async () => {
    await withCrm({}, async (crm) => {
      const first = await runCli(['send', LOGGER_FIXTURE], cliEnv(crm.callDataUrl));
      assert.equal(first.code, 0, first.stderr);
      const second = await runCli(['send', LOGGER_FIXTURE], cliEnv(crm.callDataUrl));
      assert.equal(second.code, 0, second.stderr);
      const posts = (await crmAdmin(crm.url).requests()).filter((q) => q.method === 'POST' && q.path === CALL_DATA);
      assert.equal(posts.length, 2, 'the second run really POSTed (its outbox was fresh)');
      assert.deepEqual(posts.map((q) => q.callId), ['CALL-20251023-075634-7e155942', 'CALL-20251023-075634-7e155942']);
      assert.ok(posts[0]?.idempotencyKey, 'an Idempotency-Key is sent');
      assert.equal(posts[1]?.idempotencyKey, posts[0]?.idempotencyKey, 'same key on both runs');
      const calls = await crmAdmin(crm.url).calls();
      assert.equal(calls.length, 1);
      assertValidPayload(calls[0]);
      assert.equal((await crmAdmin(crm.url).stats()).created, 1);
    });
  });

  test('against a CRM failing half the requests, send retries with the schedule and delivers', async () => {
    await withCrm({ failRate: 0.5, seed: 7 }, async (crm) => {
      const env = cliEnv(crm.callDataUrl, { CRM_RETRY_SCHEDULE: Array(10).fill('20ms').join(',') });
      const r = await runCli(['send', LOGGER_FIXTURE], env);
      assert.equal(r.code, 0, r.stderr);
      const calls = await crmAdmin(crm.url).calls();
      assert.equal(calls.length, 1);
      assertValidPayload(calls[0]);
      const posts = (await crmAdmin(crm.url).requests()).filter((q) => q.path === CALL_DATA);
      assert.ok(posts.length >= 2, `the fault sequence of seed 7 fails at least once (saw ${posts.length} POSTs)`);
      assert.deepEqual(posts.slice(0, -1).map((q) => q.fault), posts.slice(0, -1).map(() => 'fail'), 'every POST but the last was an injected failure');
      assert.equal(posts.at(-1)?.status, 201);
      assert.equal(new Set(posts.map((q) => q.idempotencyKey)).size, 1, 'retries keep the key');
    });
  });

  test('a CRM slower than CRM_TIMEOUT_MS gives a timeout error and exit 1, not a hang', async () => {
    await withCrm({ latencyMs: 3000 }, async (crm) => {
      const env = cliEnv(crm.callDataUrl, { CRM_TIMEOUT_MS: '300', CRM_MAX_ATTEMPTS: '1' });
      const r = await runCli(['send', LOGGER_FIXTURE], env, 20_000);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /time(d)?[ -]?out/i);
      // Not a hang, shown by order rather than a stopwatch: the CLI gave up before the CRM's answer was
      // due, so the CRM dropped the abandoned request instead of storing it.
      assert.equal((await crmAdmin(crm.url).calls()).length, 0, 'the slow request was abandoned, not stored');
    });
  });

  test('--manifest resolves the conversation and recording inside the configured folders', async () => {
    const env = cliEnv('http://127.0.0.1:9/unused/call-data', { CRM_CONVERSATIONS_DIR: CONV, CRM_RECORDINGS_DIR: join(FIX, 'recordings') });
    const r = await runCli(['send', '--manifest', MANIFEST, '--dry-run'], env);
    const p = dryRunPayload(r, 'manifest');
    assert.equal(p.callDetails.callId, 'CALL-20251029-135057-99509edf');
    assert.equal(p.callDetails.startTime, '2025-10-29T13:50:57.987Z');
    // The conversation's own end wins over the manifest's.
    assert.equal(p.callDetails.endTime, '2025-10-29T13:51:32.276Z');
    assert.equal(p.callDetails.callerNumber, '+919999900001');
    assert.equal(p.caller.phoneNumber, '+919999900001');
    assert.equal(p.callDetails.recordingSize, OGG_SIZE);
    assert.equal(p.callDetails.recordingDuration, 8);
    assert.equal(p.callDetails.recordingUrl, undefined, 'a dry run uploads nothing');
    assert.equal(p.campaignId, '68ff5c0f015cbf44dd9f336c');
    assert.equal(p.transcription.conversation_items?.length, 9);
  });

  test('bad input: malformed JSON, a missing file, a directory → exit 1 naming the file, no stack, nothing sent; missing ids → exit 2', async () => {
    await withCrm({}, async (crm) => {
      const dir = tempDir();
      const malformed = join(dir, 'transcript_session_2025-10-23T07-57-04.000000.json');
      writeFileSync(malformed, '{"session_id": "session_x", "items": [');
      const missing = join(dir, 'no-such-call.json');
      const folder = join(dir, 'a-folder');
      mkdirSync(folder);
      const truncated = join(BAD, 'truncated.json');
      const cases: [string, RegExp][] = [
        [malformed, /JSON/i],
        [truncated, /JSON/i],
        [missing, /no such file|not found|missing/i],
        [folder, /directory/i],
      ];
      const noIds = cliEnv(crm.callDataUrl, { CRM_CAMPAIGN_ID: undefined });
      const [idsRun, idsDry, idsOwn, ...runs] = await Promise.all([
        runCli(['send', LOGGER_FIXTURE], noIds),
        runCli(['send', LOGGER_FIXTURE, '--dry-run'], noIds),
        runCli(['send', join(CONV, 'mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session20251029.json'), '--dry-run'], noIds),
        ...cases.map(([file]) => runCli(['send', file], cliEnv(crm.callDataUrl))),
      ]);
      cases.forEach(([file, why], i) => {
        const r = runs[i] as CliResult;
        assert.equal(r.code, 1, `${file}: ${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.ok(r.stderr.includes(file), `stderr names ${file}: ${r.stderr}`);
        assert.match(r.stderr, why);
        assert.doesNotMatch(r.stderr, STACK_LINE, 'no stack trace');
      });
      assert.equal(idsRun?.code, 2, idsRun?.stderr);
      assert.match(idsRun?.stderr ?? '', /CRM_CAMPAIGN_ID/);
      assert.doesNotMatch(idsRun?.stderr ?? '', STACK_LINE);
      assert.equal(idsDry?.code, 2, `even with --dry-run: ${idsDry?.stderr}`);
      assert.match(idsDry?.stderr ?? '', /CRM_CAMPAIGN_ID/);
      assert.equal(idsDry?.stdout, '', 'no payload printed');
      // A call that carries its own ids needs none configured.
      dryRunPayload(idsOwn as CliResult, 'mongo export without CRM_CAMPAIGN_ID');
      assert.equal((await crmAdmin(crm.url).requests()).length, 0, 'nothing reached the CRM');
    });
  });
});
