/**
 * Where serve's outbox commits (docs/architecture.md, "Throughput"): serve opens its SQLite outbox with
 * the writer thread from the start, so that a commit never holds its event loop, and each accepted call
 * is still committed before its 202 ("Durability"): read back here on a connection of the test's own.
 * Also the plumbing that carries the choice (`openDelivery`'s `writer`), and a store passed in, which
 * serve uses as it is.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.ts';
import { openDelivery } from '../../src/delivery/open-delivery.ts';
import type { OutboxStore } from '../../src/outbox/outbox-store.ts';
import { openSqliteOutbox, SqliteOutboxStore } from '../../src/outbox/sqlite-outbox-store.ts';
import { startIngestServer } from '../../src/serve/server.ts';
import { startTestCrm } from '../helpers/local-crm.ts';
import { fixture, LOGGER_SESSION, postCall, rigEnv, startRig, waitForState, type ServeRig } from './harness.ts';

/** Where a SQLite store writes now (`SqliteOutboxStore.writer`). */
function writerOf(store: OutboxStore): 'inline' | 'starting' | 'thread' {
  assert.ok(store instanceof SqliteOutboxStore, 'the rig runs on a SQLite outbox');
  return store.writer;
}

/** A session of its own (its own session id, so its own callId). */
function session(tag: string): Record<string, unknown> {
  return { ...fixture(LOGGER_SESSION), session_id: `session_20251023_075614_${tag}` };
}

/** The state of `callId` as committed in the file, read on a connection of the test's own (null: not there). */
function committedState(file: string, callId: string): string | null {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const row = db.prepare('SELECT state FROM outbox WHERE call_id = ?').get(callId) as { state: string } | undefined;
    return row?.state ?? null;
  } finally {
    db.close();
  }
}

for (const worker of [true, false]) {
  describe(`serve's outbox writes on the writer thread from the start (worker ${worker ? 'on' : 'off'})`, () => {
    let rig: ServeRig;
    before(async () => {
      rig = await startRig({}, { worker });
    });
    after(async () => {
      await rig.close();
    });

    test('the writer thread is asked for at start; each accepted call, posted together, is committed before its 202', async () => {
      // Right after start, before any request: not inline (the thread may still be coming up).
      assert.notEqual(writerOf(rig.server.store), 'inline');
      const file = join(rig.dir, 'outbox.db');
      const tags = Array.from({ length: 8 }, (_, i) => `${worker ? 'w' : 'n'}${i}`);
      // Posted together, so that the batcher groups them into shared commits.
      const seen = await Promise.all(
        tags.map(async (tag) => {
          const answer = await postCall(rig, { session: session(tag) });
          // Read at once, on another connection: a 202 means the row is in the file.
          const callId = answer.body.callId as string;
          return { status: answer.status, callId, state: committedState(file, callId) };
        }),
      );
      assert.equal(new Set(seen.map((s) => s.callId)).size, tags.length, 'a call of its own per session');
      for (const s of seen) {
        assert.equal(s.status, 202, s.callId);
        assert.notEqual(s.state, null, `${s.callId} was committed before its 202`);
      }
      // The writes went through the thread (a thread that failed would show 'inline').
      assert.equal(writerOf(rig.server.store), 'thread');
      if (worker) for (const s of seen) assert.equal((await waitForState(rig, s.callId)).attempts, 1);
    });
  });
}

describe('the writer choice: openDelivery carries it; a store passed to serve is used as it is', () => {
  let dir: string;
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'crm-serve-writer-')));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("openDelivery opens a SQLite outbox with the writer asked for; the default stays 'auto' (inline until a worker runs at full speed)", async () => {
    for (const [name, writer, expected] of [
      ['thread.db', 'thread', ['starting', 'thread']],
      ['default.db', undefined, ['inline']],
      ['inline.db', 'inline', ['inline']],
    ] as const) {
      const config = loadConfig({ env: { CRM_OUTBOX: join(dir, name), CRM_RATE_LIMIT: '0' }, cwd: dir, envFile: null });
      const delivery = await openDelivery(config, writer === undefined ? {} : { writer });
      try {
        assert.ok((expected as readonly string[]).includes(writerOf(delivery.store)), `${name}: ${writerOf(delivery.store)}`);
      } finally {
        await delivery.close();
      }
    }
  });

  test('a store passed to serve keeps its own writer mode, and stays open after close()', async () => {
    const crm = await startTestCrm();
    const store = openSqliteOutbox(join(dir, 'passed.db'), { writer: 'inline' });
    try {
      const config = loadConfig({ env: rigEnv(crm, dir, { CRM_OUTBOX: join(dir, 'passed.db') }), cwd: dir, envFile: null });
      const server = await startIngestServer({ config, port: 0, store, worker: false });
      await server.close();
      assert.equal(store.writer, 'inline');
      assert.equal((await store.counts()).pending, 0, 'still open');
    } finally {
      await store.close();
      await crm.close();
    }
  });
});
