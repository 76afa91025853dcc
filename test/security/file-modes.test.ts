/**
 * Data at rest (issue 15): every file crm-upload creates is 0600 and every folder 0700, whatever the
 * umask — the SQLite outbox with its -wal and -shm, session files of the TranscriptLogger, LiveKit
 * journals, durable writes and serve's uploaded recordings — and an existing outbox readable by others
 * is tightened with a warning. Each case runs under umask 0022 (the usual) and 0000 (the worst).
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeFileAtomically } from '../../src/fs/durable.ts';
import { W_FILE_MODE_TIGHTENED } from '../../src/fs/private-files.ts';
import { JOURNAL_FORMAT, JournalWriter } from '../../src/integrations/livekit/session-journal.ts';
import { currentOwner } from '../../src/integrations/livekit/journal-owner.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { TranscriptLogger } from '../../src/logger/transcript-logger.ts';
import { createOutbox } from '../../src/outbox/create-outbox.ts';
import { beginUpload, keepUpload, keptPathOf } from '../../src/serve/uploaded-recording.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { loadConfig } from '../../src/config/config.ts';
import { makePayload } from '../helpers/payloads.ts';

const OGG = join(FIXTURES, 'recordings/number-_919999900001-1761745857.ogg');
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function freshDir(): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), 'crm-modes-')));
  roots.push(d);
  return d;
}

/** Every file and folder under `root` (not `root` itself), with its permission bits. */
function walk(root: string): { path: string; dir: boolean; mode: number }[] {
  const out: { path: string; dir: boolean; mode: number }[] = [];
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    const info = statSync(p);
    out.push({ path: relative(root, p) || name, dir: info.isDirectory(), mode: info.mode & 0o777 });
    if (info.isDirectory()) for (const e of walk(p)) out.push({ ...e, path: join(name, e.path) });
  }
  return out;
}

/** Assert 0600 for every file and 0700 for every folder; returns the listing (its paths) for counting. */
function assertPrivate(root: string): string[] {
  const entries = walk(root);
  const wrong = entries.filter((e) => e.mode !== (e.dir ? 0o700 : 0o600)).map((e) => `${e.path} ${e.mode.toString(8)}`);
  assert.deepEqual(wrong, [], `not private under ${root}`);
  return entries.map((e) => (e.dir ? `${e.path}/` : e.path)).sort();
}

/** Run `fn` under `mask`, restoring the test process's umask after. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

for (const mask of [0o022, 0o000]) {
  describe(`umask ${mask.toString(8).padStart(4, '0')}`, () => {
    test('the SQLite outbox: its folders 0700, outbox.db, -wal and -shm 0600 (while open and after)', async () => {
      const root = freshDir();
      await withUmask(mask, async () => {
        const store = await createOutbox(join(root, '.crm-upload', 'nested', 'outbox.db'));
        try {
          const payload = makePayload(1);
          await store.enqueue({ callId: payload.callDetails.callId, payload, recordingPath: null, sourceFile: 'test' });
          assert.deepEqual(assertPrivate(root), ['.crm-upload/', '.crm-upload/nested/', '.crm-upload/nested/outbox.db', '.crm-upload/nested/outbox.db-shm', '.crm-upload/nested/outbox.db-wal']);
        } finally {
          await store.close();
        }
        assertPrivate(root);
      });
    });

    test('a TranscriptLogger session file and its folder', async () => {
      const root = freshDir();
      await withUmask(mask, async () => {
        const config = loadConfig({ env: { CRM_OUTBOX: join(root, 'outbox.db') }, cwd: root, envFile: null });
        const logger = new TranscriptLogger({ conversationsDir: join(root, 'conversations', 'today'), autoUpload: false, config, logger: silentLogger() });
        try {
          logger.startSession();
          logger.addItem({ type: 'message', role: 'user', content: ['hello'] });
          const saved = await logger.saveConversationSession();
          assert.ok(saved.file.startsWith(join(root, 'conversations', 'today')));
        } finally {
          await logger.close();
        }
        const listed = assertPrivate(root);
        assert.deepEqual(listed.filter((p) => p.startsWith('conversations')).length, 3, listed.join(', '));
      });
    });

    test('a LiveKit journal, its folder, and a durable (atomic) write', async () => {
      const root = freshDir();
      await withUmask(mask, async () => {
        const path = join(root, 'journals', 'a', 'session.journal.partial');
        const writer = new JournalWriter(
          path,
          {
            kind: 'header',
            format: JOURNAL_FORMAT,
            version: 1,
            session_id: 's1',
            start_time: new Date(0).toISOString(),
            owner: currentOwner(),
            metadata: {},
            caller_number: null,
            recording_path: null,
            session_directory: null,
          },
          silentLogger(),
        );
        await writer.close();
        await writeFileAtomically(join(root, 'journals', 'a', 'session.json'), '{}');
        assert.deepEqual(assertPrivate(root), ['journals/', 'journals/a/', 'journals/a/session.journal.partial', 'journals/a/session.json']);
      });
    });

    test("serve's uploaded recording: the uploads folder, .incoming, the hash folder and the file", async () => {
      const root = freshDir();
      await withUmask(mask, async () => {
        const uploads = join(root, 'ingest-recordings');
        const upload = await beginUpload(uploads, 'number-_919999900001-1761745857.ogg');
        const { readFile } = await import('node:fs/promises');
        await upload.sink.write(await readFile(OGG));
        await upload.sink.end();
        const file = upload.received();
        const kept = keptPathOf(uploads, file);
        assert.deepEqual(await keepUpload(file, kept), { created: true });
        assert.deepEqual(assertPrivate(root), [
          'ingest-recordings/',
          'ingest-recordings/.incoming/',
          `ingest-recordings/${file.sha256.slice(0, 16)}/`,
          `ingest-recordings/${file.sha256.slice(0, 16)}/number-_919999900001-1761745857.ogg`,
        ]);
      });
    });
  });
}

test('an existing outbox readable by others is tightened to 0600, with one warning per file; its folder is left as it is', async () => {
  const root = freshDir();
  const dbDir = join(root, 'shared');
  mkdirSync(dbDir, { mode: 0o755 });
  chmodSync(dbDir, 0o755);
  const db = join(dbDir, 'outbox.db');
  const first = await createOutbox(db);
  await first.close();
  chmodSync(db, 0o644);
  copyFileSync(db, `${db}-journal`); // a leftover rollback journal of an old version, readable by all
  chmodSync(`${db}-journal`, 0o664);
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    if ((w as Error & { code?: string }).code === W_FILE_MODE_TIGHTENED) warnings.push(w);
  };
  process.on('warning', onWarning);
  try {
    const store = await createOutbox(db);
    await store.close();
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(statSync(db).mode & 0o777, 0o600);
  // (the leftover journal itself is then SQLite's: it rolls it back and removes it.)
  assert.equal(statSync(dbDir).mode & 0o777, 0o755, 'a folder that existed is not ours to change');
  assert.deepEqual(
    warnings.map((w) => w.message),
    [`${db} was readable by other users (mode 0644); tightened to 0600`, `${db}-journal was readable by other users (mode 0664); tightened to 0600`],
  );
});
