import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { ConfigError, CrmUploadError } from '../../src/errors.ts';
import { createOutbox } from '../../src/outbox/create-outbox.ts';
import { SCHEMA_VERSION } from '../../src/outbox/sqlite-schema.ts';
import { openSqliteOutbox, SqliteOutboxStore, type SqliteOutboxOptions } from '../../src/outbox/sqlite-outbox-store.ts';
import { WriterThread } from '../../src/outbox/sqlite-writer.ts';
import type { Settlement } from '../../src/outbox/outbox-store.ts';
import { outboxContractSuite } from './outbox-contract.ts';
import { sampleItem } from './sample-item.ts';

const root = mkdtempSync(join(tmpdir(), 'crm-outbox-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
/** A fresh folder under the run's temp root. */
const freshDir = (): string => mkdtempSync(join(root, `t${counter++}-`));
const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

/** A contract fixture on a fresh file, every store opened with `options`. */
const sqliteFixture = (options: SqliteOutboxOptions) => async () => {
  const dir = freshDir();
  const file = join(dir, 'nested', 'outbox.db');
  const opened: SqliteOutboxStore[] = [openSqliteOutbox(file, options)];
  return {
    store: opened[0] as SqliteOutboxStore,
    reopen: async () => {
      const store = openSqliteOutbox(file, options);
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of opened) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

outboxContractSuite('SQLite', sqliteFixture({}));
// Every write through the writer thread, as in a worker delivering at full speed.
outboxContractSuite('SQLite, writer thread', sqliteFixture({ writer: 'thread' }));

/** Start a fixture script under the same Node, with its stdout as lines. */
function startChild(script: string, args: string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const child = spawn(process.execPath, [fixture(script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  assert.ok(child.stdout);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { child, lines };
}

describe('SQLite outbox store', () => {
  test('connection settings: WAL, synchronous=FULL, busy timeout, foreign keys, schema version', async () => {
    const file = join(freshDir(), 'a', 'b', 'outbox.db');
    const store = openSqliteOutbox(file);
    try {
      assert.deepEqual(store.pragmas(), {
        journalMode: 'wal',
        synchronous: 2,
        busyTimeoutMs: 5000,
        foreignKeys: true,
        schemaVersion: SCHEMA_VERSION,
      });
      assert.equal(store.path, file);
    } finally {
      await store.close();
    }
    const custom = openSqliteOutbox(file, { busyTimeoutMs: 1234 });
    assert.equal(custom.pragmas().busyTimeoutMs, 1234);
    await custom.close();
    // Read the file with a plain connection: the mode and version are in the file, not only in our handle.
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      assert.equal(raw.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
      assert.equal(raw.prepare('PRAGMA user_version').get()?.user_version, SCHEMA_VERSION);
      const indexes = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'").all().map((r) => r.name);
      assert.ok(indexes.includes('outbox_due') && indexes.includes('outbox_lease'), `indexes: ${indexes.join(', ')}`);
    } finally {
      raw.close();
    }
  });

  test('the schema has no place for a secret; the payload is stored as JSON text', async () => {
    const file = join(freshDir(), 'outbox.db');
    const store = openSqliteOutbox(file);
    await store.enqueue(sampleItem('A'));
    await store.close();
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      const columns = raw.prepare('PRAGMA table_info(outbox)').all().map((r) => String(r.name));
      assert.deepEqual(columns.filter((c) => /key|token|secret|auth|password/i.test(c)), []);
      const row = raw.prepare("SELECT typeof(payload) AS t, json_extract(payload, '$.callDetails.callId') AS id FROM outbox").get();
      assert.deepEqual({ ...row }, { t: 'text', id: 'A' });
    } finally {
      raw.close();
    }
  });

  test('refuses a file from a newer version and a file that is not a database, naming the file', async () => {
    const newer = join(freshDir(), 'newer.db');
    const db = new DatabaseSync(newer);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => openSqliteOutbox(newer), (err) => err instanceof ConfigError && /newer/.test(err.message) && err.message.includes(newer));
    const junk = join(freshDir(), 'junk.db');
    writeFileSync(junk, 'this is not an SQLite database, just some text that is long enough to have a header'.repeat(20));
    assert.throws(() => openSqliteOutbox(junk), (err) => err instanceof ConfigError && err.message.includes(junk));
    assert.throws(() => openSqliteOutbox(join(freshDir(), 'x.db'), { busyTimeoutMs: -1 }), ConfigError);
  });

  test('reopening a current file keeps its data and version; a closed store refuses work', async () => {
    const file = join(freshDir(), 'outbox.db');
    const first = openSqliteOutbox(file);
    await first.enqueue(sampleItem('A'));
    await first.close();
    await first.close();
    await assert.rejects(first.get('A'), (err) => err instanceof CrmUploadError && err.code === 'E_OUTBOX_CLOSED');
    const second = openSqliteOutbox(file);
    assert.equal(second.pragmas().schemaVersion, SCHEMA_VERSION);
    assert.equal((await second.get('A'))?.state, 'pending');
    await second.close();
  });

  test('createOutbox opens SQLite for a path and refuses redis URLs without echoing them', async () => {
    const file = join(freshDir(), 'sub', 'outbox.db');
    const store = await createOutbox(file);
    assert.ok(store instanceof SqliteOutboxStore);
    await store.close();
    for (const url of ['redis://user:s3cret@localhost:6379', 'REDISS://:s3cret@host:6380/0']) {
      await assert.rejects(createOutbox(url), (err) => err instanceof ConfigError && !err.message.includes('s3cret') && err.context.variable === 'CRM_OUTBOX');
    }
    await assert.rejects(createOutbox('  '), ConfigError);
  });

  test('two connections on one file (two processes) share items and never lease one twice', async () => {
    const file = join(freshDir(), 'shared.db');
    const store = openSqliteOutbox(file);
    const total = 1500;
    const all = Array.from({ length: total }, (_, i) => `CALL-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < total; i += 250) await store.enqueueMany(all.slice(i, i + 250).map((id) => sampleItem(id)));

    const { child, lines } = startChild('lease-loop.ts', [file, 'child']);
    const exited = once(child, 'exit');
    assert.equal((await lines.next()).value, 'ready');
    const childLeased: string[] = [];
    const reading = (async () => {
      for await (const line of lines) childLeased.push(line.replace(/^leased /, ''));
    })();
    const mine: string[] = [];
    try {
      // Both sides lease, whatever the machine's load: the parent takes a first batch before the child
      // starts, then waits until the child has leased too (its start-up alone could outlast our loop,
      // or its loop ours), and from then on both lease from the file at once.
      const firstBatch = await store.lease({ limit: 5, leaseMs: 60_000, owner: 'parent' });
      mine.push(...firstBatch.map((i) => i.callId));
      await store.settle('parent', firstBatch.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201 })));
      child.stdin?.write('go\n');
      while (childLeased.length === 0 && child.exitCode === null) await sleep(5);
      for (;;) {
        const items = await store.lease({ limit: 5, leaseMs: 60_000, owner: 'parent' });
        if (items.length === 0) break;
        mine.push(...items.map((i) => i.callId));
        await store.settle('parent', items.map((i) => ({ callId: i.callId, kind: 'delivered' as const, status: 201 })));
        // Let the child's output in while we work, so its pipe never fills up.
        await yieldToLoop();
      }
      const [code] = await exited;
      await reading;
      assert.equal(code, 0);
      const union = [...mine, ...childLeased];
      assert.equal(new Set(union).size, union.length, 'no item leased by both processes');
      assert.deepEqual([...union].sort(), all);
      assert.ok(mine.length > 0 && childLeased.length > 0, `both sides leased (parent ${mine.length}, child ${childLeased.length})`);
      const counts = await store.counts();
      assert.equal(counts.delivered, total);
      assert.equal(counts.pending + counts.in_flight + counts.dead, 0);
    } finally {
      child.kill('SIGKILL');
      await store.close();
    }
  });

  for (const writer of ['inline', 'thread'] as const) test(`kill -9 during enqueues loses nothing that was acknowledged (writer ${writer})`, async () => {
    const file = join(freshDir(), 'crash.db');
    const printed: string[] = [];
    for (const round of [0, 1, 2]) {
      const { child, lines } = startChild('enqueue-loop.ts', [file, `R${round}`, '1000000', writer]);
      const exited = once(child, 'exit');
      assert.equal((await lines.next()).value, 'ready');
      const killAfter = 5 + Math.floor(Math.random() * 200);
      let seen = 0;
      for await (const line of lines) {
        assert.match(line, /^enqueued /);
        printed.push(line.slice('enqueued '.length));
        // Kill right after an acknowledgement; lines already in the pipe are still read below.
        if (++seen === killAfter) child.kill('SIGKILL');
      }
      const [, signal] = await exited;
      assert.equal(signal, 'SIGKILL');
    }
    const store = openSqliteOutbox(file);
    try {
      const states = await store.states(printed);
      const missing = printed.filter((id) => !states.has(id));
      assert.deepEqual(missing, [], 'every acknowledged enqueue survived');
      const counts = await store.counts();
      // At most one item per round was committed but not yet acknowledged when the kill landed.
      assert.ok(counts.pending >= printed.length && counts.pending <= printed.length + 3, `pending ${counts.pending}, printed ${printed.length}`);
    } finally {
      await store.close();
    }
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      assert.equal(raw.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok');
    } finally {
      raw.close();
    }
  });

  test('writer modes: inline stays inline; auto moves writes to the thread once a worker runs at full speed', async () => {
    const dir = freshDir();
    const delivered = (ids: readonly string[]): Settlement[] => ids.map((callId) => ({ callId, kind: 'delivered', status: 201 }));
    const ids = Array.from({ length: 40 }, (_, i) => `CALL-${i}`);
    for (const writer of ['inline', 'auto'] as const) {
      const store = openSqliteOutbox(join(dir, `${writer}.db`), { writer });
      // Read through a function: the assertions below would otherwise narrow the getter's type.
      const where = (): string => store.writer;
      try {
        await store.enqueueMany(ids.map((id) => sampleItem(id)));
        const now = Date.now() + 1;
        const few = await store.settleAndLease('w', [], { limit: 40, leaseMs: 60_000, now });
        // A paced worker records one or two outcomes at a time: no thread for that.
        await store.settleAndLease('w', delivered(ids.slice(0, 2)), { limit: 0, leaseMs: 60_000, now });
        assert.equal(where(), 'inline');
        assert.equal(few.length, 40);
        await store.settleAndLease('w', delivered(ids.slice(2, 38)), { limit: 0, leaseMs: 60_000, now });
        if (writer === 'inline') {
          assert.equal(where(), 'inline');
        } else {
          assert.notEqual(where(), 'inline', 'a batch of 36 outcomes starts the writer thread');
          const deadline = Date.now() + 10_000;
          while (where() !== 'thread' && Date.now() < deadline) await sleep(10);
          assert.equal(where(), 'thread');
        }
        // Writes through the thread are committed when they resolve, and read back at once here.
        await store.settleAndLease('w', delivered(ids.slice(38)), { limit: 0, leaseMs: 60_000, now });
        await store.enqueue(sampleItem('LATE'));
        assert.equal((await store.counts()).delivered, 40);
        assert.equal((await store.get('LATE'))?.state, 'pending');
      } finally {
        await store.close();
      }
      await assert.rejects(store.enqueue(sampleItem('AFTER')), (err) => err instanceof CrmUploadError && err.code === 'E_OUTBOX_CLOSED');
    }
  });

  test('the writer thread reports a file it cannot open, and then refuses requests', async () => {
    const writer = new WriterThread({ path: freshDir(), busyTimeoutMs: 100 });
    await assert.rejects(writer.ready, (err) => err instanceof ConfigError || (err instanceof CrmUploadError && err.code === 'E_CONFIG'));
    assert.equal(writer.failed, true);
    assert.equal(writer.up, false);
    await assert.rejects(writer.call('replay', 'all', Date.now()));
    await writer.close();
  });

  test('errors of the writer thread keep their class: a malformed settlement is a TypeError', async () => {
    const store = openSqliteOutbox(join(freshDir(), 'outbox.db'), { writer: 'thread' });
    try {
      await store.enqueue(sampleItem('A'));
      const broken = { callId: 'A', kind: 'lost', status: null } as unknown as Settlement;
      await assert.rejects(store.settle('w', [broken]), TypeError);
      await assert.rejects(store.checkpointRecording('missing', { url: 'https://crm.example/x' }), (err) => err instanceof CrmUploadError && err.code === 'E_OUTBOX_MISSING');
      assert.equal(store.writer, 'thread');
    } finally {
      await store.close();
    }
  });
});
