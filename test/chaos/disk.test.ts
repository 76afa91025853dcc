/**
 * Chaos scenario 3 (issue 17): the disk under the SQLite outbox.
 *
 * - A full filesystem (a 2 MB tmpfs filled to the last block): an enqueue fails at once with
 *   E_OUTBOX_FULL naming the outbox and the cause, the process keeps running (timers tick, reads work),
 *   nothing committed is lost, a worker started meanwhile stays up, and delivery resumes when space returns.
 * - A second process holding the write lock (BEGIN IMMEDIATE): the enqueue waits the busy timeout, then
 *   fails with E_OUTBOX_BUSY; reads go on; once the lock is gone the enqueue goes through.
 * - A damaged outbox file: `crm-upload status` fails naming the file and how to recover, and
 *   `crm-upload doctor` says to move it aside and restore a backup.
 *
 * Mounting needs root: without it the first test is skipped with its reason, except on CI, where it fails.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCrmUploadError } from '../../src/errors.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { startWorker } from '../../src/worker/worker.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { cliEnv, runCli } from '../worker/child.ts';
import { items, setup, tempDir, testConfig } from '../worker/harness.ts';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { assertCrmSide, assertOutboxSettled, ON_CI } from './harness.ts';

/** Mount a tmpfs of `size` on a fresh folder; null (with the reason) where that is not possible. */
function mountTmpfs(t: TestContext, size: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'crm-chaos-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmdirSync(dir);
    const reason = `cannot mount a tmpfs (needs root): ${(err as { stderr?: Buffer }).stderr?.toString().trim() || String(err)}`;
    if (ON_CI) assert.fail(`${reason}; CI runs as root, so this must work there`);
    t.skip(reason);
    return null;
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmdirSync(dir);
  });
  return dir;
}

/** Write zeros until the filesystem has no block left. */
function fillUp(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (let size = chunk.length; size >= 512; ) {
      try {
        written += writeSync(fd, chunk, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('chaos: the disk under the SQLite outbox', () => {
  test('a full filesystem: the enqueue fails clearly at once, nothing committed is lost, delivery resumes when space returns', { timeout: 60_000 }, async (t) => {
    const mount = mountTmpfs(t, '2m');
    if (mount === null) return;
    const crm = await startTestCrm();
    t.after(() => crm.close());
    const config = testConfig({ concurrency: 2, retryScheduleMs: [50] });
    const dbPath = join(mount, 'outbox.db');
    const store = openSqliteOutbox(dbPath, { writer: 'inline' });
    const client = createHttpCrmClient({ apiUrl: `${crm.url}/apis/api/public/call-data`, uploadUrl: `${crm.url}/apis/api/public/upload`, timeoutMs: config.timeoutMs });
    t.after(async () => {
      await client.close();
      await store.close();
    });
    const committed = items(5, 300);
    await store.enqueueMany(committed);
    const filler = join(mount, 'filler');
    assert.ok(fillUp(filler) > 0);

    const [late] = items(1, 305);
    assert.ok(late);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    t.after(() => clearInterval(ticker));
    const failure = await store.enqueue(late).then(
      () => null,
      (err: unknown) => err,
    );
    assert.ok(isCrmUploadError(failure, 'E_OUTBOX_FULL'), `expected E_OUTBOX_FULL, got ${String(failure)}`);
    assert.ok(failure.message.startsWith(`cannot write to the outbox ${dbPath}: the disk is full (SQLite 13: database or disk is full)`), failure.message);
    assert.match(failure.message, /nothing of this enqueue was committed\. Free space on the filesystem that holds it/);
    assert.equal(failure.context.file, dbPath);
    // Not blocked: the event loop runs on, and the store still answers.
    await waitFor('the event loop to tick', async () => ticks >= 5, 5_000, 10);
    assert.deepEqual(await store.states(committed.map((i) => i.callId)), new Map(committed.map((i) => [i.callId, 'pending'])));
    assert.equal(await store.get(late.callId), null, 'nothing half-written');

    // A worker started on the full disk stays up: it cannot lease (a write) and tries again.
    const worker = startWorker({ store, client, config });
    let ended = false;
    const done = worker.done.finally(() => (ended = true));
    t.after(() => worker.stop());
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(ended, false, 'the worker gave up on a full disk');
    assert.equal((await store.counts()).delivered, 0);

    // Space returns: the enqueue goes through and every call is delivered.
    rmSync(filler);
    await store.enqueue(late);
    const all = [...committed, late];
    await waitFor('every call delivered', async () => (await store.counts()).delivered === all.length, 20_000);
    await worker.stop();
    await done;
    await assertCrmSide(crmAdmin(crm.url), all.map((i) => i.payload), { maxPostsPerCall: 2 });
    await assertOutboxSettled(store, { delivered: all.length });
  });

  test('another process holds the write lock: the enqueue waits the busy timeout, then E_OUTBOX_BUSY; it goes through once the lock is gone', { timeout: 30_000 }, async (t) => {
    const { dir, cleanup } = tempDir('crm-chaos-busy-');
    t.after(cleanup);
    const dbPath = join(dir, 'outbox.db');
    const store = openSqliteOutbox(dbPath, { busyTimeoutMs: 400, writer: 'inline' });
    t.after(() => store.close());
    const [first, second] = items(2, 320);
    assert.ok(first && second);
    await store.enqueue(first);

    const holder = spawn(
      process.execPath,
      ['-e', `const { DatabaseSync } = require('node:sqlite'); const db = new DatabaseSync(${JSON.stringify(dbPath)}); db.exec('BEGIN IMMEDIATE'); console.log('locked'); setInterval(() => {}, 1000);`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const holderExit = new Promise((resolve) => holder.once('exit', resolve));
    t.after(() => {
      holder.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.setEncoding('utf8').on('data', (s: string) => s.includes('locked') && resolve());
      holder.once('exit', () => reject(new Error('the lock holder exited')));
    });

    const started = performance.now();
    const failure = await store.enqueue(second).then(
      () => null,
      (err: unknown) => err,
    );
    const waited = performance.now() - started;
    assert.ok(isCrmUploadError(failure, 'E_OUTBOX_BUSY'), `expected E_OUTBOX_BUSY, got ${String(failure)}`);
    assert.match(failure.message, new RegExp(`^the outbox ${dbPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} stayed locked by another process's write for longer than the busy timeout \\(400 ms\\) \\(SQLite 5: database is locked\\)`));
    assert.ok(waited >= 350, `failed after ${Math.round(waited)} ms, before the busy timeout`);
    // Readers are not blocked by a writer (WAL).
    assert.equal((await store.counts()).pending, 1);

    holder.kill('SIGKILL');
    await holderExit;
    assert.equal((await store.enqueue(second)).enqueued, true);
    assert.equal((await store.counts()).pending, 2);
  });

  test('a damaged outbox file: status names the file and the way out; doctor says to move it aside and restore a backup', { timeout: 60_000 }, async (t) => {
    const crm = await startTestCrm();
    const h = setup(crm.url, testConfig());
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    const dir = mkdtempSync(join(tmpdir(), 'crm-chaos-corrupt-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(dir, { recursive: true });
    const dbPath = join(dir, 'outbox.db');
    const store = openSqliteOutbox(dbPath);
    await store.enqueueMany(items(200, 400));
    await store.close();
    // Pages 4 and 5 overwritten: the table's b-tree is broken, the header still says SQLite.
    const fd = openSync(dbPath, 'r+');
    writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, 3 * 4096);
    closeSync(fd);

    const damaged = openSqliteOutbox(dbPath);
    t.after(() => damaged.close());
    await assert.rejects(damaged.counts(), (err: unknown) => isCrmUploadError(err, 'E_OUTBOX_CORRUPT') && err.context.file === dbPath);

    const env = cliEnv(dbPath, crm.url);
    const status = await runCli(['status'], env);
    assert.equal(status.code, 1, status.stderr);
    assert.ok(
      status.stderr.includes(`E_OUTBOX_CORRUPT: the outbox ${dbPath} is damaged (SQLite 11: database disk image is malformed)`),
      status.stderr,
    );
    assert.match(status.stderr, /move it aside with its -wal and -shm files, and restore a backup \(crm-upload restore FILE\)/);

    const doctor = await runCli(['doctor'], env);
    assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
    const out = doctor.stdout + doctor.stderr;
    // The check's line (SQLite's integrity report can span lines) ends with its fix.
    const check = out.slice(out.indexOf('✗ outbox:'), out.indexOf('\n✓ outbox writable'));
    assert.ok(check.startsWith(`✗ outbox: ${dbPath} is damaged or not an outbox`), out);
    assert.match(check, /fix: stop every crm-upload process, move it aside .*then restore your latest backup/);
  });
});
