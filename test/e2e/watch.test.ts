/**
 * `crm-upload watch` end to end (issue 6, "Done when"): the real CLI as a long-running child against the
 * real local CRM; calls written after it started (transcript first, recording a moment later) are each
 * delivered once, and SIGTERM stops it with exit 143 (interrupted: run it again to resume).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { generateCalls, type GeneratedCall } from './generate-calls.ts';
import { cliEnv, finished, OGG_SIZE, startCli, removeTempDirs, tempDir, waitFor } from './run-cli.ts';

after(removeTempDirs);

const CALL_DATA = '/apis/api/public/call-data';

test('watch delivers calls written after it started, the recording arriving after the transcript; SIGTERM exits 143', async () => {
  // The calls are made in a staging folder, then moved into the watched folders one file at a time.
  const staged = generateCalls(tempDir('crm-e2e-watch-stage-'), { count: 2, recordingEvery: 2 });
  const withRec = staged.calls[0] as GeneratedCall;
  const noRec = staged.calls[1] as GeneratedCall;
  assert.ok(withRec.recordingFile && noRec.recordingFile === null);
  const root = tempDir('crm-e2e-watch-');
  const dirs = { conversations: join(root, 'conversations'), leads: join(root, 'leads'), recordings: join(root, 'recordings') };
  for (const d of Object.values(dirs)) mkdirSync(d);

  const crm = await startTestCrm();
  const admin = crmAdmin(crm.url);
  const child = startCli(
    ['watch', dirs.conversations, '--leads', dirs.leads, '--recordings', dirs.recordings, '--poll', '200ms', '--recording-grace', '3s'],
    cliEnv(crm.callDataUrl),
  );
  const exited = finished(child);
  let stderr = '';
  child.stderr.on('data', (d: string) => (stderr += d));
  try {
    await waitFor('watch to start', async () => {
      if (child.exitCode !== null) throw new Error(`watch exited ${child.exitCode}: ${stderr}`);
      return /watching /.test(stderr);
    }, 15_000);

    /** Write a transcript as the logger does: a `.partial` file, then a rename. */
    const writeTranscript = (g: GeneratedCall) => {
      copyFileSync(g.leadFile, join(dirs.leads, basename(g.leadFile)));
      const to = join(dirs.conversations, basename(g.file));
      copyFileSync(g.file, `${to}.partial`);
      renameSync(`${to}.partial`, to);
    };
    writeTranscript(withRec);
    await sleep(500);
    // Egress finishes after the transcript was saved.
    copyFileSync(withRec.recordingFile, join(dirs.recordings, basename(withRec.recordingFile)));
    writeTranscript(noRec);

    const calls = await waitFor('both calls in the CRM', async () => {
      const held = await admin.calls();
      return held.length >= 2 ? held : undefined;
    }, 20_000, 100);
    assert.equal(calls.length, 2);
    for (const c of calls) assertValidPayload(c);
    const byId = new Map(calls.map((c) => [c.callDetails.callId, c]));
    const first = byId.get(withRec.callId);
    const second = byId.get(noRec.callId);
    assert.ok(first && second, `the CRM holds ${[...byId.keys()].join(', ')}`);

    const uploads = crm.state.store.uploads();
    assert.equal(uploads.length, 1, 'the recording was uploaded once');
    assert.equal(uploads[0]?.originalName, basename(withRec.recordingFile));
    assert.equal(first.callDetails.recordingUrl, (uploads[0]?.response.body as { data: { url: string } }).data.url);
    assert.equal(first.callDetails.recordingSize, OGG_SIZE);
    assert.equal(first.callDetails.recordingDuration, 8);
    assert.equal(first.callDetails.callerNumber, withRec.callerNumber);
    assert.equal(first.lead.email, withRec.leadEmail);
    assert.equal(second.callDetails.recordingUrl, undefined);
    assert.equal(second.callDetails.recordingSize, undefined);
    assert.equal(second.lead.email, noRec.leadEmail);

    // Once each: a few more rescans must not send anything again.
    await sleep(600);
    const posts = (await admin.requests()).filter((q) => q.method === 'POST' && q.path === CALL_DATA);
    assert.deepEqual(posts.map((q) => q.callId).sort(), [withRec.callId, noRec.callId].sort(), 'one POST per call');
    assert.equal((await admin.stats()).created, 2);

    child.kill('SIGTERM');
    const r = await exited;
    assert.equal(r.code, 143, `watch exits 128 + 15 on SIGTERM; stderr: ${r.stderr}`);
    assert.match(r.stderr, /watch: queued 2 · delivered 2 · dead 0/);
    assert.match(r.stderr, /interrupted by SIGTERM.*run it again to resume/);
    assert.equal(r.stdout, '', 'watch prints nothing on stdout');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited.catch(() => undefined);
    await crm.close();
  }
});
