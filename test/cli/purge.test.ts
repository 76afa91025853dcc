/**
 * `crm-upload purge` (docs/architecture.md, "Stores" → "Retention") through the real CLI on a SQLite outbox:
 * by CRM_RETENTION and by --delivered-older-than, --dead, --dry-run, --json, the kept recordings of serve's
 * uploads folder deleted with their calls, and exit 2 for a bad age or nothing to purge by.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import type { PurgeLine } from '../../src/cli/purge.ts';
import { runCli } from '../worker/child.ts';
import { items, tempDir } from '../worker/harness.ts';

const DAY = 86_400_000;

test('purge removes what is old enough, dead calls only with --dead, and says what it removed', { timeout: 60_000 }, async (t) => {
  const { dir, cleanup } = tempDir('crm-purge-cli-');
  t.after(cleanup);
  const dbPath = join(dir, 'outbox.db');
  // serve's default uploads folder lies beside the outbox.
  const kept = join(dir, 'ingest-recordings', '0123456789abcdef', 'old.ogg');
  mkdirSync(join(dir, 'ingest-recordings', '0123456789abcdef'), { recursive: true });
  writeFileSync(kept, 'audio');
  const [old, mid, fresh, dead, pending] = items(5);
  assert.ok(old && mid && fresh && dead && pending);
  const store = openSqliteOutbox(dbPath);
  await store.enqueueMany([{ ...old, recordingPath: kept }, mid, fresh, dead, pending]);
  await store.lease({ limit: 5, leaseMs: 60_000, owner: 'w' });
  const now = Date.now();
  await store.settle('w', [{ callId: old.callId, kind: 'delivered', status: 201 }], now - 40 * DAY);
  await store.settle('w', [{ callId: mid.callId, kind: 'delivered', status: 201 }], now - 10 * DAY);
  await store.settle('w', [
    { callId: fresh.callId, kind: 'delivered', status: 201 },
    { callId: dead.callId, kind: 'dead', status: 400, error: 'bad', countAttempt: true },
  ]);
  await store.release('w', [pending.callId]);
  await store.close();

  const env = { CRM_OUTBOX: dbPath };
  const run = async (args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; line: PurgeLine | null; stderr: string }> => {
    const r = await runCli(['purge', ...args], { ...env, ...extra });
    return { code: r.code, line: r.stdout.trim() === '' ? null : (JSON.parse(r.stdout) as PurgeLine), stderr: r.stderr };
  };
  const states = async (): Promise<Map<string, string>> => {
    const s = openSqliteOutbox(dbPath);
    try {
      return await s.states([old.callId, mid.callId, fresh.callId, dead.callId, pending.callId]);
    } finally {
      await s.close();
    }
  };

  // The default retention, 30 days: only the 40-day-old call, counted first.
  const dry = await run(['--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual({ ...dry.line, deliveredBefore: null }, { dryRun: true, deliveredOlderThan: '30d', deliveredBefore: null, delivered: 1, dead: 0, recordings: 0 });
  assert.match(dry.stderr, /would remove 1 delivered call \(delivered more than 30d ago/);
  assert.equal((await states()).size, 5, 'a dry run removes nothing');
  assert.equal(existsSync(kept), true);

  const first = await run(['--json']);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual({ ...first.line, deliveredBefore: null }, { dryRun: false, deliveredOlderThan: '30d', deliveredBefore: null, delivered: 1, dead: 0, recordings: 1 });
  const cut = Date.parse(first.line?.deliveredBefore ?? '');
  assert.ok(Math.abs(cut - (Date.now() - 30 * DAY)) < 60_000, 'the cut is 30 days back');
  assert.match(first.stderr, /removed 1 delivered call .*, 1 kept recording/);
  assert.equal(existsSync(kept), false, 'the recording serve kept went with its call');
  assert.deepEqual([...(await states()).keys()].sort(), [mid.callId, fresh.callId, dead.callId, pending.callId].sort());

  // An explicit age wins over CRM_RETENTION; --dead takes the dead call too; the fresh and pending ones stay.
  const second = await run(['--delivered-older-than', '7d', '--dead', '--json'], { CRM_RETENTION: '1h' });
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual({ ...second.line, deliveredBefore: null }, { dryRun: false, deliveredOlderThan: '7d', deliveredBefore: null, delivered: 1, dead: 1, recordings: 0 });
  assert.deepEqual(Object.fromEntries(await states()), { [fresh.callId]: 'delivered', [pending.callId]: 'pending' });

  // CRM_RETENTION off: nothing goes by age, and purge alone has nothing to go by.
  const off = await run([], { CRM_RETENTION: 'off' });
  assert.equal(off.code, 2);
  assert.match(off.stderr, /CRM_RETENTION is off/);
  const offDead = await run(['--dead', '--json'], { CRM_RETENTION: 'off' });
  assert.equal(offDead.code, 0, offDead.stderr);
  assert.deepEqual(offDead.line, { dryRun: false, deliveredOlderThan: null, deliveredBefore: null, delivered: 0, dead: 0, recordings: 0 });

  // Bad ages are usage errors; nothing is removed.
  assert.equal((await run(['--delivered-older-than', 'soon'])).code, 2);
  const badEnv = await run([], { CRM_RETENTION: 'a month' });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.stderr, /CRM_RETENTION/);
  assert.equal((await states()).size, 2);

  // --delivered-older-than 0: every delivered call.
  const all = await run(['--delivered-older-than', '0', '--json']);
  assert.equal(all.line?.delivered, 1);
  assert.deepEqual(Object.fromEntries(await states()), { [pending.callId]: 'pending' });
});
