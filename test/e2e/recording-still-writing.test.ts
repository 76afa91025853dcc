/**
 * A recording egress is still writing when `crm-upload bulk` or `crm-upload watch` scans the folders (an Ogg
 * Opus file whose pages so far are whole, none with the end-of-stream flag): the real CLI against the real
 * local CRM. The scan keeps it, matched to its call by its name, and says so (W_RECORDING_STILL_WRITING), never
 * reports it as bad input; the call is enqueued with it; the worker finds it unfinished and waits
 * (CRM_RECORDING_WAIT_MS); once the test completes the file the worker uploads it once and the call goes out
 * once, with the recording's URL and the duration and size of the whole file.
 *
 * No wall-clock figure is asserted: each step waits for what the CLI reports (the warning, the worker's
 * "not finished" attempt), and the wait budget is far longer than any of those steps takes on a busy machine.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { BulkSummary } from '../../src/bulk/summary.ts';
import { readOggPageAt } from '../../src/ingest/ogg-duration.ts';
import { crmAdmin, type LocalCrm, withCrm } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { generateCalls, type GeneratedCall, type GeneratedSet } from './generate-calls.ts';
import { cliEnv, finished, lastJson, OGG, OGG_SIZE, removeTempDirs, startCli, tempDir, waitFor, type CliResult } from './run-cli.ts';

after(removeTempDirs);

const CALL_DATA = '/apis/api/public/call-data';

/** The fixture recording (8 s Ogg Opus), whole. */
const whole = new Uint8Array(readFileSync(OGG));

/** Its first pages: what egress has written a few seconds into the call (no end-of-stream page yet). */
function firstPages(count: number): Uint8Array {
  let at = 0;
  for (let i = 0; i < count; i++) {
    const page = readOggPageAt(whole, at);
    assert.ok(page, `a whole page at ${at}`);
    at += page.length;
  }
  assert.ok(at < whole.length, 'the cut leaves the last page out');
  return whole.subarray(0, at);
}

/** One generated call whose recording is still being written, and how to finish it the way egress does. */
interface StillWriting {
  set: GeneratedSet;
  call: GeneratedCall;
  recording: string;
  /** Put the finished file in place at once (a rename of a file written outside the folders). */
  finish(): void;
}

function stillWritingCall(prefix: string): StillWriting {
  const set = generateCalls(tempDir(prefix), { count: 1, recordingEvery: 1 });
  const call = set.calls[0] as GeneratedCall;
  const recording = call.recordingFile as string;
  writeFileSync(recording, firstPages(3));
  // Beside the folders, never inside one: the scan must not see it.
  const done = join(set.root, 'finished.ogg');
  copyFileSync(OGG, done);
  return { set, call, recording, finish: () => renameSync(done, recording) };
}

/**
 * The env of a run: a wait for the recording far longer than the test needs; a short CRM_TIMEOUT_MS so that an
 * attempt that finds the file unfinished gives the item back (and logs it, at info) within a few seconds.
 */
const envFor = (crm: LocalCrm) => cliEnv(crm.callDataUrl, { CRM_RECORDING_WAIT_MS: '90s', CRM_TIMEOUT_MS: '5s', LOG_LEVEL: 'info' });

/** Follow a child's stderr; `text()` is all of it so far. */
function followStderr(child: ChildProcessWithoutNullStreams): { text(): string } {
  let stderr = '';
  child.stderr.on('data', (d: string | Buffer) => (stderr += String(d)));
  return { text: () => stderr };
}

/** Wait until stderr matches, failing at once when the child has exited. */
function waitForStderr(child: ChildProcessWithoutNullStreams, err: { text(): string }, what: string, re: RegExp): Promise<true> {
  return waitFor(what, async () => {
    if (re.test(err.text())) return true;
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before ${what}: ${err.text()}`);
    return false;
  }, 60_000, 50);
}

/** The CRM holds the call once, with the whole recording uploaded once; exactly one call-data POST of it. */
async function assertDeliveredWithRecording(crm: LocalCrm, w: StillWriting): Promise<void> {
  const admin = crmAdmin(crm.url);
  const stats = await admin.stats();
  assert.equal(stats.uploads, 1, 'one upload');
  assert.equal(stats.uploadsStored, 1);
  assert.equal(stats.callDataPosts, 1, 'one call-data POST');
  const posts = (await admin.requests()).filter((q) => q.method === 'POST' && q.path === CALL_DATA);
  assert.deepEqual(posts.map((q) => q.callId), [w.call.callId]);
  const uploads = crm.state.store.uploads();
  assert.equal(uploads.length, 1);
  assert.equal(uploads[0]?.originalName, basename(w.recording));
  const calls = await admin.calls();
  assert.equal(calls.length, 1);
  const [c] = calls;
  assert.ok(c);
  assertValidPayload(c);
  assert.equal(c.callDetails.callId, w.call.callId);
  assert.equal(c.callDetails.recordingUrl, (uploads[0]?.response.body as { data: { url: string } }).data.url);
  assert.equal(c.callDetails.recordingDuration, 8, 'the duration of the whole recording, read once it was finished');
  assert.equal(c.callDetails.recordingSize, OGG_SIZE, 'the size of the whole file, not the part the scan saw');
  assert.equal(c.callDetails.callerNumber, w.call.callerNumber, 'the caller number from the recording name');
}

/** Kill a child still running after `ms` (a hang fails the test instead of stalling the suite). */
function killAfter(child: ChildProcessWithoutNullStreams, ms: number): () => void {
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return () => clearTimeout(timer);
}

describe('a recording still being written when the folders are scanned', { timeout: 180_000 }, () => {
  test('bulk: matched by its name with a warning, not a bad file; the worker waits, then uploads the whole file once', async () => {
    await withCrm({}, async (crm) => {
      const w = stillWritingCall('crm-e2e-writing-bulk-');
      const child = startCli(['bulk', w.set.conversationsDir, '--leads', w.set.leadsDir, '--recordings', w.set.recordingsDir, '--no-progress', '--json'], envFor(crm));
      const exited = finished(child);
      const stopTimer = killAfter(child, 150_000);
      const err = followStderr(child);
      let r: CliResult;
      try {
        await waitForStderr(child, err, 'the still-writing warning', /warning: recording .* still being written: matched by its name to .*; the worker uploads it once finished \(waits up to CRM_RECORDING_WAIT_MS\)/);
        await waitForStderr(child, err, 'an attempt that found the recording unfinished', /recording file not finished/);
        assert.equal((await crmAdmin(crm.url).stats()).requests, 0, 'nothing sent while the recording is unfinished');
        w.finish();
        r = await exited;
      } finally {
        stopTimer();
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      assert.equal(r.code, 0, r.stderr);
      const summary = lastJson<BulkSummary>(r);
      assert.deepEqual({ ...summary, durationMs: 0 }, { success: 1, failed: 0, skipped: 0, pending: 0, dead: 0, total: 1, durationMs: 0, errors: [], unmatchedLeads: [], skippedFiles: [], interrupted: false });
      assert.doesNotMatch(r.stderr, /E_INPUT_AUDIO/, 'the recording is not reported as bad input');
      await assertDeliveredWithRecording(crm, w);
    });
  });

  test('watch: enqueued with its recording at once (no grace period spent), the worker waits, then uploads the whole file once', async () => {
    await withCrm({}, async (crm) => {
      const w = stillWritingCall('crm-e2e-writing-watch-');
      // A grace period longer than the test: a call enqueued without its recording would show only after it.
      const child = startCli(
        ['watch', w.set.conversationsDir, '--leads', w.set.leadsDir, '--recordings', w.set.recordingsDir, '--poll', '200ms', '--recording-grace', '10m'],
        envFor(crm),
      );
      const exited = finished(child);
      const stopTimer = killAfter(child, 150_000);
      const err = followStderr(child);
      let r: CliResult;
      try {
        await waitForStderr(child, err, 'the call queued with its recording', new RegExp(`queued ${w.call.callId} from .* with recording`));
        await waitForStderr(child, err, 'the still-writing warning', /still being written: matched by its name/);
        await waitForStderr(child, err, 'an attempt that found the recording unfinished', /recording file not finished/);
        assert.equal((await crmAdmin(crm.url).stats()).requests, 0, 'nothing sent while the recording is unfinished');
        w.finish();
        await waitFor('the call in the CRM', async () => (await crmAdmin(crm.url).calls()).length > 0, 60_000, 100);
        child.kill('SIGTERM');
        r = await exited;
      } finally {
        stopTimer();
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      assert.equal(r.code, 143, r.stderr);
      assert.doesNotMatch(r.stderr, /failed .*number-_|E_INPUT_AUDIO/, 'the recording is not reported as bad input');
      await assertDeliveredWithRecording(crm, w);
    });
  });
});
