/**
 * Ctrl-C and SIGTERM during `bulk` and `send` (issue 12, CLI conventions): the real CLI in a child
 * process against the real local CRM. The first signal lets the requests in flight finish, commits
 * their outcomes, releases the leases still held and exits 128 + the signal's number with a summary
 * marked interrupted; a second one exits at once. Run again, the run resumes and every call is created
 * exactly once.
 */
import { after, before, describe, test } from 'node:test';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import assert from 'node:assert/strict';
import { crmAdmin, withCrm, type CrmAdmin } from '../helpers/local-crm.ts';
import type { BulkSummary } from '../../src/bulk/summary.ts';
import type { StatusJson } from '../../src/cli/status.ts';
import { generateCalls, type GeneratedSet } from './generate-calls.ts';
import { cliEnv, finished, lastJson, LOGGER_FIXTURE, removeTempDirs, runCli, startCli, tempDir, waitFor } from './run-cli.ts';

after(removeTempDirs);

const N = 200;
const CALL_DATA = '/apis/api/public/call-data';

let set: GeneratedSet;
before(() => {
  set = generateCalls(tempDir('crm-e2e-interrupt-'), { count: N, recordingEvery: 10 });
});

const bulkArgs = (s: GeneratedSet, ...extra: string[]) => ['bulk', s.conversationsDir, '--leads', s.leadsDir, '--recordings', s.recordingsDir, '--no-progress', '--json', ...extra];

async function statusOf(env: Record<string, string | undefined>): Promise<StatusJson> {
  const r = await runCli(['status', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return lastJson<StatusJson>(r);
}

/** The CLI started in the background, and its stderr so far. */
function startBackground(args: string[], env: Record<string, string | undefined>) {
  const child = startCli(args, env);
  const exited = finished(child);
  const seen = { stderr: '' };
  child.stderr.on('data', (d: string) => (seen.stderr += d));
  return { child, exited, seen, until: <T>(what: string, check: () => Promise<T | undefined | false>) => untilOrExit(child, seen, what, check) };
}

/** `waitFor`, failing at once (with its stderr) when the CLI ends first. */
function untilOrExit<T>(child: ChildProcessWithoutNullStreams, seen: { stderr: string }, what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  return waitFor(what, async () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the CLI ended (${child.exitCode ?? child.signalCode}) before ${what}: ${seen.stderr}`);
    return check();
  }, 60_000, 10);
}

/** Call-data POSTs the CRM has seen, by callId (answered or still held by its latency). */
async function postsByCall(admin: CrmAdmin): Promise<Map<string, number>> {
  const posts = new Map<string, number>();
  for (const q of await admin.requests()) {
    if (q.method !== 'POST' || q.path !== CALL_DATA || q.callId === null) continue;
    posts.set(q.callId, (posts.get(q.callId) ?? 0) + 1);
  }
  return posts;
}

describe('bulk interrupted by a signal', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    test(`${signal} mid-run: in-flight requests finish, nothing stays in flight, exit ${code}; run again, every call created once`, async () => {
      await withCrm({ latencyMs: 30 }, async (crm) => {
        const env = cliEnv(crm.callDataUrl);
        const admin = crmAdmin(crm.url);
        const { child, exited, until } = startBackground(bulkArgs(set, '--concurrency', '4'), env);
        await until('the first calls to be created', async () => (await admin.stats()).created >= 20);
        child.kill(signal);
        const r = await exited;

        assert.equal(r.code, code, r.stderr);
        assert.match(r.stderr, new RegExp(`${signal}: finishing the requests in flight`));
        assert.match(r.stderr, new RegExp(`interrupted by ${signal}.*run it again to resume`));
        const s = lastJson<BulkSummary>(r);
        assert.equal(s.interrupted, true);
        const created = (await admin.stats()).created;
        assert.ok(created < N, `stopped mid-run (${created} of ${N} created)`);
        // Every answer that came back was committed before the exit: the summary counts exactly what the
        // CRM created, and the rest of the run's calls are pending (none lost, none held).
        assert.equal(s.success, created, JSON.stringify(s));
        assert.equal(s.success + s.pending, s.total - s.failed - s.skipped - s.dead);
        const status = await statusOf(env);
        assert.equal(status.in_flight, 0, 'no lease left behind');
        assert.equal(status.delivered, created);
        assert.equal(status.delivered + status.pending, s.success + s.pending);

        const again = await runCli(bulkArgs(set, '--concurrency', '16'), env);
        assert.equal(again.code, 0, again.stderr);
        const s2 = lastJson<BulkSummary>(again);
        assert.equal(s2.interrupted, false);
        assert.deepEqual([s2.skipped, s2.success, s2.failed, s2.pending, s2.dead, s2.total], [created, N - created, 0, 0, 0, N]);

        const stats = await admin.stats();
        assert.equal(stats.created, N, 'every call created');
        assert.equal(stats.uploadsStored, N / 10, 'each recording stored once');
        const posts = await postsByCall(admin);
        assert.equal(posts.size, N);
        assert.deepEqual([...new Set(posts.values())], [1], 'no call POSTed twice: nothing was left leased to be sent again');
        assert.equal((await statusOf(env)).delivered, N);
      });
    });
  }

  test('a second SIGINT exits at once, without waiting for the requests the CRM holds; the next run still delivers each call once', async () => {
    const small = generateCalls(tempDir('crm-e2e-interrupt2-'), { count: 20, recordingEvery: 0 });
    // The CRM never answers (until the client gives up), so the first signal's grace would last long.
    await withCrm({ hangRate: 1 }, async (crm) => {
      // Leases of 2 × the request timeout, so that the next run takes over what this one held within
      // seconds; a retry much later than the test takes, so that no call goes dead meanwhile.
      const env = cliEnv(crm.callDataUrl, { CRM_TIMEOUT_MS: '5s', CRM_RETRY_SCHEDULE: '10m' });
      const admin = crmAdmin(crm.url);
      const { child, exited, seen, until } = startBackground(bulkArgs(small, '--concurrency', '4'), env);
      await until('requests held by the CRM', async () => (await admin.stats()).faults.hang >= 1);
      child.kill('SIGINT');
      await until('the first signal to be taken', async () => seen.stderr.includes('SIGINT: finishing the requests in flight'));
      child.kill('SIGINT');
      const r = await exited;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /SIGINT: exiting now/);
      assert.doesNotMatch(r.stderr, /interrupted by SIGINT/, 'no graceful summary: it did not wait');
      assert.equal(r.stdout, '', 'no summary on stdout');

      await admin.faults({ hangRate: 0 });
      const again = await runCli(bulkArgs(small), env);
      assert.equal(again.code, 0, again.stderr);
      const s = lastJson<BulkSummary>(again);
      assert.deepEqual([s.success, s.failed, s.pending, s.dead, s.total], [20, 0, 0, 0, 20]);
      assert.equal((await admin.stats()).created, 20, 'each call created once');
    });
  });
});

test('send interrupted while its call waits for a retry: exit 130, the call stays pending (not in flight); sent again, it is delivered once', async () => {
  await withCrm({}, async (crm) => {
    const admin = crmAdmin(crm.url);
    await admin.faults({ forceStatus: { status: 503 } });
    // After a 503 the call waits 3 s for its retry: the signal comes while it waits.
    const env = cliEnv(crm.callDataUrl, { CRM_RETRY_SCHEDULE: '3s' });
    const { child, exited, until } = startBackground(['send', LOGGER_FIXTURE, '--json'], env);
    await until('the first attempt', async () => (await admin.stats()).callDataPosts >= 1);
    child.kill('SIGINT');
    const r = await exited;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted by SIGINT.*run it again to resume/);
    const result = lastJson<{ callId: string; state: string; attempts: number; interrupted: boolean }>(r);
    assert.deepEqual([result.state, result.interrupted], ['pending', true]);
    assert.equal(result.attempts, (await admin.stats()).callDataPosts, 'every attempt the CRM answered is recorded');
    const status = await statusOf(env);
    assert.deepEqual([status.pending, status.in_flight, status.delivered], [1, 0, 0]);

    await admin.faults({ forceStatus: null });
    const again = await runCli(['send', LOGGER_FIXTURE, '--json'], env);
    assert.equal(again.code, 0, again.stderr);
    const done = lastJson<{ callId: string; state: string; enqueued: boolean; interrupted: boolean }>(again);
    assert.deepEqual([done.callId, done.state, done.enqueued, done.interrupted], [result.callId, 'delivered', false, false]);
    const stats = await admin.stats();
    assert.deepEqual([stats.created, stats.callDataPosts], [1, result.attempts + 1]);
  });
});
