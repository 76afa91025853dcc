/**
 * Backups of a live SQLite outbox (README, "Backups"): `crm-upload backup` while a worker delivers to a
 * slow local CRM, `crm-upload restore` into a fresh folder, and a worker finishing from there.
 *
 * What a restore can promise, exactly: every call delivered at the backup point is never sent again;
 * the calls delivered after the backup point (and before the restore) are sent once more, with the same
 * Idempotency-Key, so the CRM replays its first answer and still holds each call once; every other call
 * is sent once. The test asserts those three sets from the local CRM's request log.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { E_OUTBOX_FILE_INVALID } from '../../src/outbox/sqlite-file-check.ts';
import { E_BACKUP_EXISTS } from '../../src/outbox/sqlite-backup.ts';
import { E_OUTBOX_IN_USE } from '../../src/outbox/sqlite-restore.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmAdmin, withCrm, type RequestRecord } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { cliEnv, finished, removeTempDirs, runCli, startCli, tempDir, waitFor } from '../e2e/run-cli.ts';

const CALLS = 30;

/** The callIds in `state` in the outbox file at `path` (read-only). */
function idsIn(path: string, state: string): Set<string> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return new Set(db.prepare('SELECT call_id FROM outbox WHERE state = ?').all(state).map((r) => String(r.call_id)));
  } finally {
    db.close();
  }
}

const callDataPosts = (records: RequestRecord[]): RequestRecord[] => records.filter((r) => r.method === 'POST' && r.callId !== null);

describe('crm-upload backup / restore', () => {
  after(removeTempDirs);

  test('backup during a delivery run, restore into a fresh folder: no call delivered at the backup is sent again', async (t) => {
    const outbox = join(tempDir('crm-backup-'), 'outbox.db');
    const ids = Array.from({ length: CALLS }, (_, i) => makePayload(i).callDetails.callId).sort();
    const store = openSqliteOutbox(outbox);
    await store.enqueueMany(ids.map((_, i) => ({ callId: makePayload(i).callDetails.callId, payload: makePayload(i), recordingPath: null })));
    await store.close();

    // Slow enough (one call at a time, 300 ms each) that the backup lands in the middle of the run.
    await withCrm({ latencyMs: 300 }, async (crm) => {
      const admin = crmAdmin(crm.url);
      const env = (over: Record<string, string>) => cliEnv(`${crm.url}/apis/api/public/call-data`, { CRM_CONCURRENCY: '1', CRM_TIMEOUT_MS: '2000', ...over });
      const worker = startCli(['worker'], env({ CRM_OUTBOX: outbox }));
      const workerDone = finished(worker);
      try {
        await waitFor('5 calls delivered', async () => (await admin.stats()).created >= 5, 60_000);
        const backupFile = join(tempDir('crm-backup-dest-'), 'outbox-backup.db');
        const b = await runCli(['backup', backupFile, '--json'], env({ CRM_OUTBOX: outbox }));
        assert.equal(b.code, 0, b.stderr);
        const written = JSON.parse(b.stdout) as { file: string; schemaVersion: number; counts: Record<string, number> };
        assert.equal(written.file, backupFile);
        assert.equal(statSync(backupFile).mode & 0o777, 0o600, 'a backup holds callers\' data');
        assert.equal(existsSync(`${backupFile}-wal`), false, 'a backup is one self-contained file');
        assert.equal(Object.values(written.counts).reduce((a, n) => a + n, 0), CALLS);

        const atBackup = idsIn(backupFile, 'delivered');
        assert.equal(atBackup.size, written.counts.delivered);
        assert.ok(atBackup.size >= 5 && atBackup.size < CALLS, `backup taken mid-run (${atBackup.size} delivered)`);

        // Restoring over the outbox the running worker has open is refused.
        const busy = await runCli(['restore', backupFile], env({ CRM_OUTBOX: outbox }));
        assert.equal(busy.code, 2, busy.stderr);
        assert.match(busy.stderr, new RegExp(`${E_OUTBOX_IN_USE}: the outbox ${outbox} is open in another process`));

        // Let the worker deliver past the backup point, then stop it (SIGTERM: in-flight calls finish).
        await waitFor('a call delivered after the backup', async () => (await admin.stats()).created >= atBackup.size + 1, 60_000);
        worker.kill('SIGTERM');
        const w = await workerDone;
        assert.equal(w.code, 0, w.stderr);

        const deliveredBeforeRestore = idsIn(outbox, 'delivered');
        const phase1 = callDataPosts(await admin.requests());
        const phase1Seq = Math.max(...phase1.map((r) => r.seq));
        // Phase 1: each call at most once, every POST accepted.
        assert.equal(new Set(phase1.map((r) => r.callId)).size, phase1.length);
        assert.ok(phase1.every((r) => r.status === 201));
        const afterBackup = [...deliveredBeforeRestore].filter((id) => !atBackup.has(id)).sort();
        assert.ok(afterBackup.length >= 1);
        t.diagnostic(`delivered at the backup: ${atBackup.size}; after it, before the restore: ${afterBackup.length}; of ${CALLS}`);

        // A second backup to the same name is refused; the first is left as it was.
        const again = await runCli(['backup', backupFile], env({ CRM_OUTBOX: outbox }));
        assert.equal(again.code, 2);
        assert.match(again.stderr, new RegExp(E_BACKUP_EXISTS));
        assert.deepEqual(idsIn(backupFile, 'delivered'), atBackup);

        // Restore into a fresh folder and let a worker finish from the backup.
        const fresh = join(tempDir('crm-restore-'), 'state', 'outbox.db');
        const r = await runCli(['restore', backupFile, '--json'], env({ CRM_OUTBOX: fresh }));
        assert.equal(r.code, 0, r.stderr);
        const restored = JSON.parse(r.stdout) as { outbox: string; replacedBy: string | null; counts: Record<string, number> };
        assert.equal(restored.outbox, fresh);
        assert.equal(restored.replacedBy, null);
        assert.deepEqual(restored.counts, written.counts);

        // Leases taken before the backup expire within 2 × CRM_TIMEOUT_MS; the worker then takes them too.
        const finisher = startCli(['worker'], env({ CRM_OUTBOX: fresh }));
        const finisherDone = finished(finisher);
        await waitFor('every call delivered from the restored outbox', async () => {
          const db = new DatabaseSync(fresh, { readOnly: true, timeout: 2_000 });
          try {
            return Number(db.prepare("SELECT count(*) AS n FROM outbox WHERE state = 'delivered'").get()?.n) === CALLS;
          } finally {
            db.close();
          }
        }, 120_000).catch(async (err: Error) => {
          finisher.kill('SIGTERM');
          const f = await finisherDone;
          throw new Error(`${err.message}; outbox ${JSON.stringify([...['pending', 'in_flight', 'delivered', 'dead']].map((st) => [st, idsIn(fresh, st).size]))}; the worker said: ${f.stderr}`);
        });
        finisher.kill('SIGTERM');
        assert.equal((await finisherDone).code, 0);

        const phase2All = (await admin.requests()).filter((q) => q.seq > phase1Seq);
        const phase2 = callDataPosts(phase2All);
        const sentAgain = phase2.map((q) => q.callId as string);
        /** The callId a phase-2 request is about: a POST's body, or a lookup's `callId=` query. */
        const about = (q: RequestRecord): string | null => q.callId ?? new URLSearchParams(q.query).get('callId');
        // Nothing delivered at the backup is touched again: no POST, not even a lookup.
        assert.deepEqual(phase2All.filter((q) => atBackup.has(about(q) ?? '')).map(about), []);
        // Each call sent at most once from the restored outbox.
        assert.equal(new Set(sentAgain).size, sentAgain.length);
        // Every call the CRM did not have before the restore is sent, once.
        const neverDelivered = ids.filter((id) => !deliveredBeforeRestore.has(id));
        assert.deepEqual(sentAgain.filter((id) => !deliveredBeforeRestore.has(id)).sort(), neverDelivered);
        // Those delivered after the backup point are pending again in it: each is either sent again with
        // its first Idempotency-Key (the CRM replays its answer), or — when its lease in the backup made
        // the last attempt uncertain — looked up first and found (CRM_VERIFY_BEFORE_RESEND), never sent
        // under another key.
        const firstKey = new Map(phase1.map((q) => [q.callId, q.idempotencyKey]));
        const resent = phase2.filter((q) => deliveredBeforeRestore.has(q.callId as string));
        for (const q of resent) assert.equal(q.idempotencyKey, firstKey.get(q.callId), `${q.callId} re-sent with its key`);
        const lookedUp = new Set(phase2All.filter((q) => q.method === 'GET').map(about));
        for (const id of afterBackup) assert.ok(sentAgain.includes(id) || lookedUp.has(id), `${id} re-sent or looked up`);
        t.diagnostic(`after the restore: ${neverDelivered.length} sent for the first time, ${resent.length} re-sent with their key, ${afterBackup.length - resent.length} found by a lookup`);
        const stats = await admin.stats();
        assert.equal(stats.replays, resent.length);
        assert.equal(stats.conflicts, 0);
        assert.equal(stats.created, CALLS);
        // The CRM holds each call once.
        assert.deepEqual((await admin.calls()).map((c) => c.callDetails.callId).sort(), ids);

        // Restoring over the (now idle) original keeps the replaced outbox aside, whole.
        const back = await runCli(['restore', backupFile, '--json'], env({ CRM_OUTBOX: outbox }));
        assert.equal(back.code, 0, back.stderr);
        const over = JSON.parse(back.stdout) as { replacedBy: string };
        assert.match(over.replacedBy, /outbox\.db\.replaced-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
        assert.deepEqual(idsIn(over.replacedBy, 'delivered'), deliveredBeforeRestore);
        assert.deepEqual(idsIn(outbox, 'delivered'), atBackup);
      } finally {
        if (worker.exitCode === null) worker.kill('SIGKILL');
      }
    });
  });

  test('restore refuses a file that is not a sound outbox and changes nothing', async () => {
    const dir = tempDir('crm-restore-bad-');
    const bad = join(dir, 'not-an-outbox.db');
    writeFileSync(bad, 'SQLite format 3\0 but then garbage '.repeat(200));
    const outbox = join(dir, 'state', 'outbox.db');
    const r = await runCli(['restore', bad], cliEnv('http://127.0.0.1:9/apis/api/public/call-data', { CRM_OUTBOX: outbox }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${E_OUTBOX_FILE_INVALID}: ${bad} is not a sound outbox`));
    assert.equal(existsSync(outbox), false);
    assert.deepEqual(readdirSync(dir), ['not-an-outbox.db']);
  });

  test('backup of a missing outbox exits 2 and writes nothing; restore --force replaces an outbox held open, saying so', async () => {
    const dir = tempDir('crm-restore-force-');
    const env = (outbox: string) => cliEnv('http://127.0.0.1:9/apis/api/public/call-data', { CRM_OUTBOX: outbox });
    const none = await runCli(['backup', join(dir, 'b.db')], env(join(dir, 'missing', 'outbox.db')));
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /E_OUTBOX_MISSING: no outbox at .*missing\/outbox\.db: nothing to back up/);
    assert.deepEqual(readdirSync(dir), []);

    const outbox = join(dir, 'outbox.db');
    const store = openSqliteOutbox(outbox);
    await store.enqueueMany([0, 1, 2].map((i) => ({ callId: makePayload(i).callDetails.callId, payload: makePayload(i), recordingPath: null })));
    await store.close();
    const backupFile = join(dir, 'b.db');
    assert.equal((await runCli(['backup', backupFile], env(outbox))).code, 0);
    const holder = new DatabaseSync(outbox); // another process's open outbox, as far as the CLI can tell
    try {
      holder.prepare('SELECT count(*) FROM outbox').get();
      const refused = await runCli(['restore', backupFile], env(outbox));
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(E_OUTBOX_IN_USE));
      const forced = await runCli(['restore', backupFile, '--force', '--json'], env(outbox));
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stderr, /warning: the outbox was open in another process: stop it now/);
      const result = JSON.parse(forced.stdout) as { forced: boolean; replacedBy: string; counts: { pending: number } };
      assert.equal(result.forced, true);
      assert.equal(result.counts.pending, 3);
      assert.ok(existsSync(result.replacedBy));
    } finally {
      holder.close();
    }
  });

  test('a BullMQ outbox is refused with the reason (exit 2): Redis persistence backs it up', async () => {
    const env = cliEnv('http://127.0.0.1:9/apis/api/public/call-data', { CRM_OUTBOX: 'redis://127.0.0.1:6379/0?queue=crm-backup-test' });
    for (const args of [['backup', join(tempDir(), 'b.db')], ['restore', join(tempDir(), 'b.db')]]) {
      const r = await runCli(args, env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /Redis \(BullMQ\) outbox, which backup\/restore do not copy.*Redis persistence \(AOF/);
    }
  });
});
