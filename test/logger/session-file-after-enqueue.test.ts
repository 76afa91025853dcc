/**
 * With auto-upload the outbox commit is the durability point and the session file a copy for people,
 * written after the enqueue (docs/architecture.md, "Durability"): every call is in the outbox when its
 * save returns, and every session file is on disk, whole, once `close()` (or `flush()`) returns — never
 * lost to a close that follows the saves at once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { prepareCall } from '../../src/api/prepare-call.ts';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { TranscriptLogger, type TranscriptSession } from '../../src/logger/transcript-logger.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { fixture } from '../helpers/fixtures.ts';

const FIXTURE = fixture('conversations/transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json');

// One folder for the file's tests, removed once every test and its hooks have run.
const ROOT = mkdtempSync(join(tmpdir(), 'crm-logger-file-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

function setup(): Config {
  const dir = mkdtempSync(join(ROOT, 'case-'));
  return loadConfig({
    cwd: dir,
    envFile: null,
    env: {
      // Nothing listens there: the CRM is down, and the save never contacts it anyway.
      CRM_API_URL: 'http://127.0.0.1:9/apis/api/public/call-data',
      CRM_OUTBOX: 'outbox.db',
      CRM_CONVERSATIONS_DIR: 'conversations',
      CRM_CAMPAIGN_ID: 'camp',
      CRM_VOICE_AGENT_ID: 'agent',
      CRM_CLIENT_ID: 'client',
      CRM_AUTO_UPLOAD: 'true',
    },
  });
}

const sessions = (count: number): TranscriptSession[] => {
  const seed = JSON.parse(readFileSync(FIXTURE, 'utf8')) as TranscriptSession;
  return Array.from({ length: count }, (_, k) => ({ ...seed, session_id: `session_20251023_075634_${(0xa000 + k).toString(16).padStart(8, '0')}` }));
};

test('30 saves then close() at once: 30 calls in the outbox at return, 30 whole session files (0600) on disk after close()', async () => {
  const config = setup();
  const logger = new TranscriptLogger({ config });
  const results = await Promise.all(sessions(30).map((s) => logger.saveConversationSession(s)));
  assert.deepEqual(
    results.map((r) => [r.enqueued, r.state, r.error]),
    results.map(() => [true, 'pending', undefined]),
  );
  // Each call is in the outbox when its save returns: the commit is what the save waited for.
  const early = openSqliteOutbox(config.outbox);
  const items = await Promise.all(results.map((r) => early.get(r.callId ?? '')));
  await early.close();
  assert.deepEqual(
    items.map((i) => [i?.state, i?.sourceFile]),
    results.map((r) => ['pending', r.file]),
  );
  await logger.close();

  const dir = join(config.cwd, 'conversations');
  assert.deepEqual(readdirSync(dir).sort(), results.map((r) => basename(r.file)).sort(), 'every file, no .partial left');
  for (const [k, r] of results.entries()) {
    assert.equal(statSync(r.file).mode & 0o777, 0o600);
    // The file holds what was enqueued: the payload read from it is the one in the outbox.
    assert.deepEqual((await prepareCall({ transcript: r.file }, config)).payload, items[k]?.payload);
  }
});

test('flush() waits for the session files of the saves so far; the logger stays open', async () => {
  const config = setup();
  const logger = new TranscriptLogger({ config });
  // Closed in the test itself, before setup's clean-up removes the folder: the last save's file is
  // still being written when the assertions end (after hooks run in the order they were added).
  try {
    const [a, b] = await Promise.all(sessions(2).map((s) => logger.saveConversationSession(s)));
    await logger.flush();
    assert.deepEqual(
      [a, b].map((r) => (JSON.parse(readFileSync(r?.file ?? '', 'utf8')) as { session_id: string }).session_id),
      sessions(2).map((s) => s.session_id),
    );
    const c = await logger.saveConversationSession(sessions(3)[2] as TranscriptSession);
    assert.equal(c.enqueued, true, 'still accepting after flush()');
  } finally {
    await logger.close();
  }
});
