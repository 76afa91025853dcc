/**
 * Upgrades (README, "Upgrade and roll back"): an outbox written by each earlier schema version
 * (test/fixtures/outbox/, written by that version's own code) is migrated on open, in one transaction,
 * and its pending calls are delivered by today's worker — each once, delivered and dead ones not
 * again. A file newer than this code is refused with a typed error and left exactly as it was.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { E_OUTBOX_TOO_NEW, OutboxVersionError } from '../../src/outbox/outbox-version-error.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { SCHEMA_VERSION } from '../../src/outbox/sqlite-schema.ts';
import { fixture } from '../helpers/fixtures.ts';
import { crmAdmin, withCrm } from '../helpers/local-crm.ts';
import { cliEnv, removeTempDirs, runCli, tempDir } from '../e2e/run-cli.ts';

const ids = (...suffixes: string[]): string[] => suffixes.map((s) => `CALL-20251023-075634-v0${s}`);
const DELIVERED = ids('a', 'b');
const DEAD = ids('c');
const PENDING = ids('d', 'e', 'f', 'g');

/** `PRAGMA user_version` read from the header (offset 60), without opening the file. */
const headerVersion = (path: string): number => readFileSync(path).readInt32BE(60);

/** A copy of the fixture of schema `version` in a fresh folder. */
function copyOf(version: number): string {
  const path = join(tempDir('crm-upgrade-'), 'outbox.db');
  copyFileSync(fixture(`outbox/v${version}.db`), path);
  chmodSync(path, 0o600);
  return path;
}

const EARLIER = Array.from({ length: SCHEMA_VERSION - 1 }, (_, i) => i + 1);
/** Every fixture: the earlier versions, and the current one when its file is kept (written by an older commit). */
const WRITTEN = [...EARLIER, SCHEMA_VERSION].filter((v) => existsSync(fixture(`outbox/v${v}.db`)));

describe('outbox schema upgrades', () => {
  after(removeTempDirs);

  test('there is a fixture for every earlier schema version, written at that version', () => {
    assert.ok(SCHEMA_VERSION >= 2);
    for (const v of EARLIER) {
      const file = fixture(`outbox/v${v}.db`);
      assert.ok(existsSync(file), `test/fixtures/outbox/v${v}.db is missing (see its README)`);
      assert.equal(headerVersion(file), v);
    }
  });

  for (const v of WRITTEN) {
    test(`v${v} → v${SCHEMA_VERSION}: migrated on open, every call kept in its state`, async () => {
      const path = copyOf(v);
      const store = openSqliteOutbox(path);
      try {
        assert.equal(store.pragmas().schemaVersion, SCHEMA_VERSION);
        const counts = await store.counts();
        assert.deepEqual([counts.pending, counts.in_flight, counts.delivered, counts.dead], [4, 0, 2, 1]);
        const retried = await store.get(PENDING[0] as string);
        assert.equal(retried?.attempts, 1);
        assert.equal(retried?.lastStatus, 503);
        assert.equal((await store.get(DEAD[0] as string))?.lastError, 'HTTP 400: callDetails.callerNumber invalid');
        // Version 2's call_start is filled in for the calls of a v1 file: reconcile pages through them.
        const delivered = await store.listDelivered({ startFrom: Date.UTC(2025, 9, 23), startTo: Date.UTC(2025, 9, 24) });
        assert.deepEqual(delivered.map((i) => i.callId), DELIVERED);
        // Version 3's index by delivery time serves the calls delivered before the upgrade too (the dashboard).
        assert.deepEqual((await store.listDeliveredByTime({ from: 0 })).map((d) => d.callId).sort(), DELIVERED);
      } finally {
        await store.close();
      }
      assert.equal(headerVersion(path), SCHEMA_VERSION);
    });

    test(`v${v}: \`crm-upload worker --once\` delivers its pending calls, each once, and nothing else`, async () => {
      const path = copyOf(v);
      await withCrm({}, async (crm) => {
        const r = await runCli(['worker', '--once'], cliEnv(`${crm.url}/apis/api/public/call-data`, { CRM_OUTBOX: path }));
        assert.equal(r.code, 0, r.stderr);
        const posts = (await crmAdmin(crm.url).requests()).filter((q) => q.method === 'POST' && q.callId !== null);
        assert.deepEqual(posts.map((q) => q.callId).sort(), PENDING);
        assert.ok(posts.every((q) => q.status === 201 && q.idempotencyKey !== null));
        assert.deepEqual((await crmAdmin(crm.url).calls()).map((c) => c.callDetails.callId).sort(), PENDING);
      });
      const store = openSqliteOutbox(path);
      try {
        const counts = await store.counts();
        assert.deepEqual([counts.pending, counts.delivered, counts.dead], [0, 6, 1]);
      } finally {
        await store.close();
      }
    });
  }

  test('a migration that fails midway leaves the file at its old version, whole', () => {
    const path = copyOf(1);
    // An index in the way of version 2's last statement: the step fails after it has created the
    // attempts table and added the call_start column, which must both be rolled back.
    const db = new DatabaseSync(path);
    db.exec('CREATE INDEX outbox_delivered_start ON outbox (created_at)');
    db.close();
    assert.throws(() => openSqliteOutbox(path), (err: unknown) => err instanceof ConfigError && /outbox_delivered_start already exists/.test(err.message));
    const after = new DatabaseSync(path, { readOnly: true });
    try {
      assert.equal(after.prepare('PRAGMA user_version').get()?.user_version, 1);
      const columns = after.prepare('PRAGMA table_info(outbox)').all().map((c) => c.name);
      assert.ok(!columns.includes('call_start'), 'no statement of the failed migration is kept');
      assert.equal(after.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'attempts'").get()?.n, 0);
      assert.equal(after.prepare('SELECT count(*) AS n FROM outbox').get()?.n, 7);
    } finally {
      after.close();
    }
  });

  test('a file newer than this code is refused with OutboxVersionError and not written to', () => {
    const path = copyOf(SCHEMA_VERSION > 1 ? SCHEMA_VERSION - 1 : 1);
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const before = readFileSync(path);
    assert.throws(
      () => openSqliteOutbox(path),
      (err: unknown) =>
        err instanceof OutboxVersionError &&
        err instanceof ConfigError &&
        err.code === E_OUTBOX_TOO_NEW &&
        err.fileVersion === SCHEMA_VERSION + 1 &&
        err.knownVersion === SCHEMA_VERSION &&
        err.context.file === path,
    );
    assert.deepEqual(readFileSync(path), before);
  });

  test('the CLI names the problem and exits 2 on a newer file', async () => {
    const path = copyOf(1);
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 7}`);
    db.close();
    const r = await runCli(['status'], cliEnv('http://127.0.0.1:9/apis/api/public/call-data', { CRM_OUTBOX: path }));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${E_OUTBOX_TOO_NEW}: outbox .* has schema version ${SCHEMA_VERSION + 7}, newer than this crm-upload understands \\(${SCHEMA_VERSION}\\)`));
    assert.equal(headerVersion(path), SCHEMA_VERSION + 7);
  });
});
