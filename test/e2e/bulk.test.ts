/**
 * `crm-upload bulk` end to end (issue 6, "Done when"): the real CLI in a child process against the real
 * local CRM over HTTP, on a generated folder of 300 calls with their leads and some recordings.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { crmAdmin, type LocalCrm, type RequestRecord, withCrm } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import type { BulkSummary } from '../../src/bulk/summary.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { generateCalls, naiveIstSeconds, type GeneratedCall, type GeneratedSet } from './generate-calls.ts';
import { BAD, cliEnv, finished, FIX, lastJson, OGG_SIZE, runCli, startCli, stdoutLines, removeTempDirs, tempDir, waitFor } from './run-cli.ts';

after(removeTempDirs);

const N = 300;
const CALL_DATA = '/apis/api/public/call-data';

type Summary = BulkSummary;

let set: GeneratedSet;

before(() => {
  set = generateCalls(tempDir('crm-e2e-bulk-'), { count: N, recordingEvery: 10 });
});

const bulkArgs = (s: GeneratedSet, ...extra: string[]) => ['bulk', s.conversationsDir, '--leads', s.leadsDir, '--recordings', s.recordingsDir, '--no-progress', ...extra];

/**
 * The CRM holds exactly `expected`, once each, with its own lead and its own recording: checked call by
 * call against what the generator wrote, and every stored payload against the contract.
 */
function assertDelivered(crm: LocalCrm, calls: CallPayload[], expected: readonly GeneratedCall[]): void {
  assert.equal(calls.length, expected.length, 'one stored call per generated call');
  const byId = new Map(calls.map((c) => [c.callDetails.callId, c]));
  assert.equal(byId.size, expected.length, 'distinct callIds');
  // The URL each recording's upload answered, by the recording's file name.
  const uploadedUrl = new Map(crm.state.store.uploads().map((u) => [u.originalName, (u.response.body as { data: { url: string } }).data.url]));
  for (const g of expected) {
    const c = byId.get(g.callId);
    assert.ok(c, `${g.callId} (call ${g.index}) is in the CRM`);
    assertValidPayload(c);
    assert.equal(c.callDetails.startTime, g.startIso, g.callId);
    assert.equal(c.callDetails.endTime, g.endIso, g.callId);
    assert.equal(c.transcription.session_id, g.sessionId, g.callId);
    assert.equal(c.transcription.conversation_items?.[0]?.content, `Namaste! This is call ${g.index}.`, g.callId);
    assert.equal(c.lead.email, g.leadEmail, `${g.callId} carries its own lead`);
    assert.equal(c.lead.name, g.leadName, g.callId);
    assert.equal(c.lead.timestamp, g.leadTimeIso, `${g.callId}: lead time read in IST, sent in UTC`);
    if (g.recordingFile) {
      const url = uploadedUrl.get(basename(g.recordingFile));
      assert.ok(url, `${basename(g.recordingFile)} was uploaded`);
      assert.equal(c.callDetails.recordingUrl, url, `${g.callId} carries its own recording's URL`);
      assert.equal(c.callDetails.recordingSize, OGG_SIZE);
      assert.equal(c.callDetails.recordingDuration, 8);
      assert.equal(c.callDetails.callerNumber, g.callerNumber, 'caller number from the recording name');
    } else {
      assert.equal(c.callDetails.recordingUrl, undefined, `${g.callId} has no recording`);
      assert.equal(c.callDetails.recordingSize, undefined);
    }
  }
}

/** Every call-data POST of one callId carried one and the same Idempotency-Key. */
function assertOneKeyPerCall(reqs: RequestRecord[]): Map<string, number> {
  const keys = new Map<string, Set<string | null>>();
  const posts = new Map<string, number>();
  for (const q of reqs) {
    if (q.method !== 'POST' || q.path !== CALL_DATA) continue;
    // A request cut off by the SIGKILL while the CRM's latency held it was never read nor answered.
    if (q.callId === null && q.status === null) continue;
    assert.ok(q.callId, `every answered call-data POST names its call: ${JSON.stringify(q)}`);
    assert.ok(q.idempotencyKey, `POST of ${q.callId} carries an Idempotency-Key`);
    const s = keys.get(q.callId) ?? new Set();
    s.add(q.idempotencyKey);
    keys.set(q.callId, s);
    posts.set(q.callId, (posts.get(q.callId) ?? 0) + 1);
  }
  for (const [callId, s] of keys) assert.equal(s.size, 1, `${callId} was POSTed under ${s.size} keys`);
  return posts;
}

describe('crm-upload bulk', { concurrency: 2 }, () => {
  test('300 generated calls: each delivered once with its own lead and recording; a second run sends nothing', async () => {
    await withCrm({}, async (crm) => {
      const env = cliEnv(crm.callDataUrl);
      const first = await runCli(bulkArgs(set, '--concurrency', '16', '--json'), env);
      assert.equal(first.code, 0, first.stderr);
      const s1 = lastJson<Summary>(first);
      assert.deepEqual({ ...s1, durationMs: 0 }, { success: N, failed: 0, skipped: 0, pending: 0, dead: 0, total: N, durationMs: 0, errors: [], unmatchedLeads: [], skippedFiles: [], interrupted: false });
      assert.ok(s1.durationMs > 0);
      assert.equal(stdoutLines(first).length, 1, 'stdout holds the summary and nothing else');
      assertDelivered(crm, await crmAdmin(crm.url).calls(), set.calls);
      const stats = await crmAdmin(crm.url).stats();
      assert.equal(stats.created, N);
      assert.equal(stats.callDataPosts, N, 'no call POSTed twice');
      assert.equal(stats.uploadsStored, N / 10, 'each recording uploaded once');
      assertOneKeyPerCall(await crmAdmin(crm.url).requests());

      const before = stats.requests;
      const second = await runCli(bulkArgs(set, '--concurrency', '16', '--json'), env);
      assert.equal(second.code, 0, second.stderr);
      const s2 = lastJson<Summary>(second);
      assert.deepEqual({ ...s2, durationMs: 0 }, { success: 0, failed: 0, skipped: N, pending: 0, dead: 0, total: N, durationMs: 0, errors: [], unmatchedLeads: [], skippedFiles: [], interrupted: false });
      assert.match(second.stderr, /300 call\(s\) were already delivered and were skipped/);
      assert.equal((await crmAdmin(crm.url).stats()).requests, before, 'the second run sent nothing');
    });
  });

  test('--dry-run prints one contract-valid payload per call and sends nothing', async () => {
    await withCrm({}, async (crm) => {
      const r = await runCli(bulkArgs(set, '--dry-run'), cliEnv(crm.callDataUrl));
      assert.equal(r.code, 0, r.stderr);
      const lines = stdoutLines(r);
      assert.equal(lines.length, N);
      const payloads = lines.map((l) => JSON.parse(l) as CallPayload);
      for (const p of payloads) assertValidPayload(p);
      assert.deepEqual(payloads.map((p) => p.callDetails.callId).sort(), set.calls.map((c) => c.callId).sort());
      // A dry run reads the recordings (size, duration) but uploads nothing.
      const withRecording = payloads.filter((p) => p.callDetails.recordingSize === OGG_SIZE);
      assert.equal(withRecording.length, N / 10);
      assert.ok(withRecording.every((p) => p.callDetails.recordingUrl === undefined && p.callDetails.recordingDuration === 8));
      assert.equal((await crmAdmin(crm.url).stats()).requests, 0);
    });
  });

  test('--since/--until select exactly the calls whose start is in range (naive = CRM_SOURCE_TIMEZONE, bounds included)', async () => {
    const [a, b] = [100, 149];
    const first = set.calls[a] as GeneratedCall;
    const last = set.calls[b] as GeneratedCall;
    await withCrm({}, async (crm) => {
      // --since naive IST at the exact start of call 100; --until UTC with Z at the exact start of call 149.
      const r = await runCli(bulkArgs(set, '--since', naiveIstSeconds(first.startMs), '--until', last.startIso, '--json'), cliEnv(crm.callDataUrl));
      assert.equal(r.code, 0, r.stderr);
      const s = lastJson<Summary>(r);
      assert.deepEqual([s.success, s.failed, s.skipped, s.pending, s.dead, s.total], [50, 0, 0, 0, 0, 50]);
      const expected = set.calls.slice(a, b + 1);
      assertDelivered(crm, await crmAdmin(crm.url).calls(), expected);
    });
    // Bare dates cover whole days in CRM_SOURCE_TIMEZONE: 2025-11-03 IST ends at 18:30 UTC, so calls 0–57
    // (the last one at 18:15 UTC); call 58 starts at 18:30 UTC = 00:00 IST on the 4th.
    const day = await runCli(bulkArgs(set, '--since', '2025-11-03', '--until', '2025-11-03', '--dry-run'), cliEnv('http://127.0.0.1:9/unused/call-data'));
    assert.equal(day.code, 0, day.stderr);
    const ids = stdoutLines(day).map((l) => {
      const p = JSON.parse(l) as CallPayload;
      assertValidPayload(p);
      return p.callDetails.callId;
    });
    assert.deepEqual(ids.sort(), set.calls.slice(0, 58).map((c) => c.callId).sort());
  });

  test('a bulk killed with SIGKILL mid-way and run again delivers every call once', async () => {
    await withCrm({ latencyMs: 30 }, async (crm) => {
      // A short request timeout keeps the leases the killed process leaves behind short (2 × timeout).
      const env = cliEnv(crm.callDataUrl, { CRM_TIMEOUT_MS: '1000' });
      const admin = crmAdmin(crm.url);
      const child = startCli(bulkArgs(set, '--concurrency', '4', '--json'), env);
      const exited = finished(child);
      const createdAtKill = await waitFor('the first calls to be created', async () => {
        const { created } = await admin.stats();
        return created >= 20 ? created : undefined;
      }, 30_000, 10);
      child.kill('SIGKILL');
      const killed = await exited;
      assert.equal(killed.signal, 'SIGKILL', 'the first run was killed, not finished');
      const createdBefore = (await admin.stats()).created;
      assert.ok(createdBefore < N, `killed mid-way (${createdAtKill} created at the kill, ${createdBefore} after)`);

      const again = await runCli(bulkArgs(set, '--concurrency', '16', '--json'), env);
      assert.equal(again.code, 0, again.stderr);
      const s = lastJson<Summary>(again);
      assert.equal(s.success + s.skipped, N, JSON.stringify(s));
      assert.deepEqual([s.failed, s.pending, s.dead, s.total], [0, 0, 0, N]);
      assert.ok(s.skipped > 0 && s.success > 0, `some calls were delivered before the kill (${s.skipped}), the rest after (${s.success})`);

      assertDelivered(crm, await admin.calls(), set.calls);
      const stats = await admin.stats();
      assert.equal(stats.created, N, 'every call created exactly once');
      assert.equal(stats.uploadsStored, N / 10, 'no recording stored twice');
      const posts = assertOneKeyPerCall(await admin.requests());
      assert.equal(posts.size, N);
    });
  });

  test('a folder mixing good calls with bad files: every good call delivered, each bad file in errors with its reason, exit 1', async () => {
    const mixed = generateCalls(tempDir('crm-e2e-mixed-'), { count: 20, recordingEvery: 5 });
    const bad = ['truncated.json', 'array-not-object.json', 'unknown-format.json', 'empty.json'].map((f) => {
      const to = join(mixed.conversationsDir, `bad-${f}`);
      copyFileSync(join(BAD, f), to);
      return to;
    });
    await withCrm({}, async (crm) => {
      const r = await runCli(bulkArgs(mixed, '--json'), cliEnv(crm.callDataUrl));
      assert.equal(r.code, 1, r.stderr);
      const s = lastJson<Summary>(r);
      assert.deepEqual([s.success, s.failed, s.skipped, s.pending, s.dead, s.total], [20, bad.length, 0, 0, 0, 20 + bad.length]);
      assert.deepEqual(s.errors.map((e) => e.file).sort(), bad.slice().sort(), 'each bad file listed once');
      const reasons = new Map(s.errors.map((e) => [basename(e.file), e.reason]));
      assert.match(reasons.get('bad-truncated.json') ?? '', /JSON/);
      assert.match(reasons.get('bad-empty.json') ?? '', /empty/);
      assert.match(reasons.get('bad-array-not-object.json') ?? '', /list|array/i);
      assert.match(reasons.get('bad-unknown-format.json') ?? '', /unknown format/i);
      for (const f of bad) assert.ok(r.stderr.includes(f), `stderr lists ${f}`);
      assertDelivered(crm, await crmAdmin(crm.url).calls(), mixed.calls);
    });
  });

  // docs/architecture.md, input 8: the event log "is not a call: bulk reports it as skipped, with that reason".
  test('bulk reports the event log as skipped, with its reason, and sends nothing', async () => {
    await withCrm({}, async (crm) => {
      const r = await runCli(['bulk', join(FIX, 'conversations/event-log'), '--json', '--no-progress'], cliEnv(crm.callDataUrl));
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await crmAdmin(crm.url).stats()).requests, 0, 'nothing sent: the event log is not a call');
      const eventLog = join(FIX, 'conversations/event-log/transcripts.jsonl');
      const said = `${r.stderr}\n${r.stdout}`;
      assert.ok(r.stderr.includes(eventLog) && /not a call/.test(r.stderr), `bulk names the skipped event log and why; it printed: ${said}`);
      const summary = lastJson<Summary>(r);
      assert.deepEqual(summary.skippedFiles.map((f) => f.file), [eventLog]);
      assert.match(summary.skippedFiles[0]?.reason ?? '', /not a call/);
      assert.equal(summary.total, 0, 'the event log is not counted as a call');
    });
  });
});
