/**
 * Retention (docs/architecture.md, "Stores" → "Retention"): `CRM_RETENTION`'s values, the batched purge with the
 * recordings `serve` kept, and a purged transcript no longer readable in the SQLite file or its WAL.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { purgeOutbox, removeKeptRecording } from '../../src/retention/purge-outbox.ts';
import { DEFAULT_RETENTION_MS, formatRetention, parseRetention } from '../../src/retention/retention-setting.ts';
import { startWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { items, setup, tempDir, testConfig } from '../worker/harness.ts';

const DAY = 86_400_000;

describe('CRM_RETENTION', () => {
  const cases: [string | null, number | null | undefined][] = [
    [null, DEFAULT_RETENTION_MS],
    ['', DEFAULT_RETENTION_MS],
    ['30d', 30 * DAY],
    ['7d', 7 * DAY],
    ['12h', 12 * 3_600_000],
    ['90m', 90 * 60_000],
    ['1.5d', 1.5 * DAY],
    ['off', null],
    ['OFF', null],
    ['never', null],
    ['0', null],
    ['0d', null],
    ['-1d', undefined],
    ['thirty days', undefined],
    ['30 weeks', undefined],
  ];
  for (const [text, expected] of cases) {
    test(`${JSON.stringify(text)} → ${String(expected)}`, () => assert.equal(parseRetention(text), expected));
  }
  test('formatted back the way it is written', () => {
    assert.deepEqual([30 * DAY, 12 * 3_600_000, 90 * 60_000, 1500, null].map(formatRetention), ['30d', '12h', '90m', '1500ms', 'off']);
  });
});

describe('purgeOutbox', () => {
  test('removes old delivered items in batches with the recordings kept in the uploads folder, never other files', async (t) => {
    const { dir, cleanup } = tempDir('crm-retention-');
    const store = openSqliteOutbox(join(dir, 'outbox.db'));
    t.after(async () => {
      await store.close();
      cleanup();
    });
    const uploads = join(dir, 'ingest-recordings');
    const kept = (n: number): string => join(uploads, `hash${n}`, `call-${n}.ogg`);
    const userRecording = join(dir, 'recordings', 'user.ogg');
    mkdirSync(join(dir, 'recordings'), { recursive: true });
    writeFileSync(userRecording, 'user audio');
    // 7 old deliveries (5 with a kept recording, one with a user's recording), 2 recent ones, 1 dead, 1 pending.
    const list = items(11);
    const paths = list.map((_, n) => (n < 5 ? kept(n) : n === 5 ? userRecording : null));
    for (const [n, p] of paths.entries()) {
      if (p !== null && n < 5) {
        mkdirSync(join(uploads, `hash${n}`), { recursive: true });
        writeFileSync(p, `audio ${n}`);
      }
    }
    await store.enqueueMany(list.map((item, n) => ({ ...item, recordingPath: paths[n] ?? null })));
    const id = (n: number): string => list[n]?.callId ?? '';
    await store.lease({ limit: 11, leaseMs: 60_000, owner: 'w' });
    const now = Date.now();
    // The SQLite store takes the settle's time: old deliveries without waiting for them to age.
    await store.settle('w', [0, 1, 2, 3, 4, 5, 6].map((n) => ({ callId: id(n), kind: 'delivered' as const, status: 201 })), now - 40 * DAY);
    await store.settle('w', [7, 8].map((n) => ({ callId: id(n), kind: 'delivered' as const, status: 201 })), now - DAY);
    await store.settle('w', [{ callId: id(9), kind: 'dead', status: 400, error: 'bad', countAttempt: true }], now);
    await store.release('w', [id(10)]);

    const dry = await purgeOutbox(store, { olderThanMs: 30 * DAY, dead: true, dryRun: true, uploadsDir: uploads, now });
    assert.deepEqual({ ...dry, deliveredBefore: 0 }, { delivered: 7, dead: 1, recordings: 0, deliveredBefore: 0, more: false });
    assert.equal((await store.counts()).delivered, 9, 'a dry run removes nothing');

    const one = await purgeOutbox(store, { olderThanMs: 30 * DAY, dead: false, uploadsDir: uploads, batchSize: 3, maxBatches: 1, now });
    assert.deepEqual(one, { delivered: 3, dead: 0, recordings: 3, deliveredBefore: now - 30 * DAY, more: true }, 'the worker: one batch, and it says more is left');
    const rest = await purgeOutbox(store, { olderThanMs: 30 * DAY, dead: false, uploadsDir: uploads, batchSize: 3, now });
    assert.deepEqual(rest, { delivered: 4, dead: 0, recordings: 2, deliveredBefore: now - 30 * DAY, more: false });
    for (let n = 0; n < 5; n += 1) {
      assert.equal(existsSync(kept(n)), false, `kept recording ${n} removed`);
      assert.equal(existsSync(join(uploads, `hash${n}`)), false, `its folder ${n} removed once empty`);
    }
    assert.equal(existsSync(uploads), true, 'the uploads folder stays');
    assert.equal(readFileSync(userRecording, 'utf8'), 'user audio', 'a recording outside the uploads folder is the user’s');
    const states = await store.states(list.map((i) => i.callId));
    assert.deepEqual([...states.values()].sort(), ['dead', 'delivered', 'delivered', 'pending']);
    assert.deepEqual(await purgeOutbox(store, { olderThanMs: null, dead: true, uploadsDir: uploads, now }), { delivered: 0, dead: 1, recordings: 0, deliveredBefore: null, more: false });
    assert.deepEqual(await purgeOutbox(store, { olderThanMs: null, dead: false, uploadsDir: uploads, now }), { delivered: 0, dead: 0, recordings: 0, deliveredBefore: null, more: false }, 'retention off: nothing');
  });

  test('removeKeptRecording leaves paths outside the folder and missing files alone', async (t) => {
    const { dir, cleanup } = tempDir('crm-retention-');
    t.after(cleanup);
    const uploads = join(dir, 'up');
    mkdirSync(join(uploads, 'h'), { recursive: true });
    writeFileSync(join(dir, 'outside.ogg'), 'x');
    assert.equal(await removeKeptRecording(join(uploads, '..', 'outside.ogg'), uploads), false);
    assert.equal(existsSync(join(dir, 'outside.ogg')), true);
    assert.equal(await removeKeptRecording(join(uploads, 'h', 'gone.ogg'), uploads), false);
    assert.equal(await removeKeptRecording(uploads, uploads), false, 'never the folder itself');
  });
});

describe('a purged transcript cannot be read from the SQLite files', () => {
  test('delivered, purged: the canary is in neither outbox.db nor its -wal', { timeout: 60_000 }, async (t) => {
    const crm = await startTestCrm();
    const config = testConfig();
    const h = setup(crm.url, config);
    t.after(async () => {
      await h.close();
      await crm.close();
    });
    const canary = `CANARY-${process.pid}-${Date.now().toString(36)}-transcript`;
    const [first, ...others] = items(4);
    assert.ok(first);
    const payload = structuredClone(first.payload);
    const turn = payload.transcription.conversation_items[0];
    assert.ok(turn);
    // Once at the start of the row and once past 8 KB, so that an overflow page holds it too.
    turn.content = `${canary} ${'I would like to hear about your plans. '.repeat(220)}${canary}`;
    await h.store.enqueueMany([{ ...first, payload }, ...others]);
    const rawCount = (): number => {
      let n = 0;
      for (const file of [h.dbPath, `${h.dbPath}-wal`]) {
        if (!existsSync(file)) continue;
        const bytes = readFileSync(file);
        for (let at = bytes.indexOf(canary); at !== -1; at = bytes.indexOf(canary, at + 1)) n += 1;
      }
      return n;
    };
    assert.ok(rawCount() > 0, 'the canary is on disk before the purge (the search finds it)');
    const summary = await startWorker({ store: h.store, client: h.client, config, idleExit: true }).done;
    assert.equal(summary.delivered, 4);
    assert.equal((await crmAdmin(crm.url).calls()).filter((c) => JSON.stringify(c).includes(canary)).length, 1, 'the CRM got it once');
    assert.ok(rawCount() > 0, 'still on disk after the delivery');

    const purged = await purgeOutbox(h.store, { olderThanMs: 0, dead: false, uploadsDir: null });
    assert.equal(purged.delivered, 4);
    assert.equal(await h.store.get(first.callId), null);
    assert.equal(rawCount(), 0, 'no byte of the purged transcript is left in outbox.db or outbox.db-wal');
    assert.equal(readFileSync(`${h.dbPath}-wal`).length, 0, 'the WAL was checkpointed and truncated');

    // Space is reused: new calls fit in the freed pages, and the outbox still works.
    await h.store.enqueueMany(items(4, 10));
    assert.equal((await startWorker({ store: h.store, client: h.client, config, idleExit: true }).done).delivered, 4);
    assert.equal(rawCount(), 0);
  });
});
