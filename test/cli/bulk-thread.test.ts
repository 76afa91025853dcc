/**
 * `crm-upload bulk` runs in a worker thread (src/cli/bulk-thread.ts, docs/architecture.md "Throughput"):
 * what the thread does reaches the CLI's side — every dry-run payload, the progress of each phase to its
 * end, and the summary — and an error of the run comes back as the class the CLI maps to an exit code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BulkProgress } from '../../src/api/bulk-upload.ts';
import { bulkUploadFromDirectory } from '../../src/api/bulk-upload.ts';
import { bulkInThread } from '../../src/cli/bulk-thread.ts';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError, CrmUploadError } from '../../src/errors.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { fixture } from '../helpers/fixtures.ts';

const config = (dir: string) =>
  loadConfig({ cwd: dir, envFile: null, env: { CRM_CAMPAIGN_ID: 'c', CRM_VOICE_AGENT_ID: 'a', CRM_CLIENT_ID: 'x', CRM_OUTBOX: 'outbox.db', CRM_SOURCE_TIMEZONE: 'Asia/Kolkata' } });

test('a dry run in the thread hands over the same payloads, progress to the end and summary as in this thread', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-bulk-thread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conversations = fixture('conversations/transcript-logger');
  const payloads: CallPayload[] = [];
  const progress: BulkProgress[] = [];
  const summary = await bulkInThread(
    { dir: conversations, options: { config: config(dir), dryRun: true }, globals: {} },
    { onPayload: (p) => payloads.push(p), onProgress: (p) => progress.push(p) },
  );
  const here: CallPayload[] = [];
  const expected = await bulkUploadFromDirectory(conversations, { config: config(dir), dryRun: true, onPayload: (p) => here.push(p) });
  assert.ok(payloads.length > 0);
  assert.deepEqual(payloads, here);
  assert.deepEqual({ ...summary, durationMs: 0 }, { ...expected, durationMs: 0 });
  const last = progress.at(-1);
  assert.deepEqual([last?.phase, last?.done], ['enqueue', payloads.length], 'the last progress of the phase is relayed');
});

test('an error of the run comes back as a CrmUploadError with its code', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-bulk-thread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The outbox path is a folder: opening it fails inside the thread.
  const bad = loadConfig({ cwd: dir, envFile: null, env: { CRM_CAMPAIGN_ID: 'c', CRM_VOICE_AGENT_ID: 'a', CRM_CLIENT_ID: 'x', CRM_OUTBOX: dir } });
  const here = await bulkUploadFromDirectory(fixture('conversations/transcript-logger'), { config: bad, maxWaitMs: 1_000 }).then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(here instanceof CrmUploadError, `in this thread: ${String(here)}`);
  await assert.rejects(bulkInThread({ dir: fixture('conversations/transcript-logger'), options: { config: bad, maxWaitMs: 1_000 }, globals: {} }, {}), (err: unknown) => {
    assert.ok(err instanceof CrmUploadError);
    assert.equal(err.code, here.code);
    assert.equal(err instanceof ConfigError, here instanceof ConfigError, 'the same exit code (ConfigError: 2)');
    return true;
  });
});
