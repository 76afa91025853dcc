/**
 * Payload encryption at rest in both stores (docs/architecture.md, "Stores" → "Payload encryption"; issue
 * 15): the whole outbox contract with a key (SQLite on the calling thread and through its writer thread,
 * BullMQ on Redis), no caller data in the raw bytes of outbox.db/-wal or of the Redis keys, key rotation
 * with `rekey` (plain and old-key records rewritten under the new key, counted exactly; the old key then
 * removed), a record moved to another call refused, and a missing key a clear OutboxKeyError naming it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { openBullmqOutbox, type BullmqOutboxStore } from '../../src/outbox/bullmq-store.ts';
import type { OutboxStore } from '../../src/outbox/outbox-store.ts';
import { createPayloadCipher, keyIdOf, OutboxKeyError, PLAIN_PAYLOADS, type PayloadCipher } from '../../src/outbox/payload-cipher.ts';
import { probePayloads } from '../../src/outbox/payload-probe.ts';
import { rekeyOutbox } from '../../src/outbox/rekey-outbox.ts';
import { openSqliteOutbox, type SqliteWriterMode } from '../../src/outbox/sqlite-outbox-store.ts';
import { dropPrefix, REDIS_URL, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { outboxContractSuite, type OutboxFixture } from './outbox-contract.ts';
import { sampleItem, samplePayload } from './sample-item.ts';

const KEY_A = Buffer.alloc(32, 0x11).toString('hex');
const KEY_B = Buffer.alloc(32, 0x22).toString('base64');
const KID_A = keyIdOf(Buffer.alloc(32, 0x11));
const KID_B = keyIdOf(Buffer.alloc(32, 0x22));
const CIPHER_A = createPayloadCipher({ key: KEY_A });
const CANARY = 'CANARY-7f3a9c-transcript';

const root = mkdtempSync(join(tmpdir(), 'crm-encrypted-outbox-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** A fresh SQLite file and a way to open it with any cipher; every store opened is closed by `cleanup`. */
function sqliteFile(writer: SqliteWriterMode = 'auto') {
  const dir = mkdtempSync(join(root, `t${counter++}-`));
  const file = join(dir, 'outbox.db');
  const opened: OutboxStore[] = [];
  return {
    file,
    open: async (cipher: PayloadCipher): Promise<OutboxStore> => {
      const store = openSqliteOutbox(file, { cipher, writer });
      opened.push(store);
      return store;
    },
    /** The payload column as stored. */
    raw: (): Map<string, unknown> => {
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        const rows = db.prepare('SELECT call_id, payload FROM outbox').all() as { call_id: string; payload: string }[];
        return new Map(rows.map((r) => [r.call_id, JSON.parse(r.payload)]));
      } finally {
        db.close();
      }
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh BullMQ queue and a way to open it with any cipher. */
function bullmqQueue() {
  const { url, prefix } = redisOutboxUrl('encrypted');
  const opened: BullmqOutboxStore[] = [];
  return {
    prefix,
    open: async (cipher: PayloadCipher): Promise<BullmqOutboxStore> => {
      const store = await openBullmqOutbox(url, { cipher, stalledIntervalMs: 100, warn: () => undefined });
      opened.push(store);
      return store;
    },
    raw: async (): Promise<Map<string, unknown>> => {
      const store = opened[0];
      assert.ok(store);
      const ids = await store.redis.zrange(store.key('start'), 0, -1);
      const out = new Map<string, unknown>();
      for (const id of ids) {
        const text = await store.redis.hget(`${prefix}:crm-upload:${id}`, 'data');
        if (text !== null) out.set(id, (JSON.parse(text) as { payload: unknown }).payload);
      }
      return out;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      await dropPrefix(prefix);
    },
  };
}

/** Every value under `prefix`, read by type (not DUMP, which may compress), as one text. */
async function redisText(prefix: string): Promise<string> {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  try {
    const parts: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await r.type(key);
        parts.push(key);
        if (type === 'string') parts.push((await r.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await r.hgetall(key)));
        else if (type === 'list') parts.push(...(await r.lrange(key, 0, -1)));
        else if (type === 'zset') parts.push(...(await r.zrange(key, 0, -1)));
        else if (type === 'set') parts.push(...(await r.smembers(key)));
        else if (type === 'stream') parts.push(JSON.stringify(await r.xrange(key, '-', '+')));
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    r.disconnect();
  }
}

/** Enqueue, lease, settle with a history, and checkpoint: every kind of write a record sees. */
async function exercise(store: OutboxStore): Promise<void> {
  await store.enqueueMany([sampleItem('enc-1', { marker: CANARY }), sampleItem('enc-2', { marker: CANARY }), sampleItem('enc-3', { marker: CANARY })]);
  const leased = await store.lease({ limit: 2, leaseMs: 60_000, owner: 'w1' });
  assert.equal(leased.length, 2);
  for (const item of leased) assert.equal(item.payload.lead?.name, `Test Person ${CANARY}`, 'leased items come back decrypted');
  const log = [{ at: Date.now(), step: 'call-data' as const, attempt: 1, status: 200, durationMs: 5, outcome: 'delivered' as const, error: null }];
  await store.settle('w1', [{ callId: leased[0]?.callId as string, kind: 'delivered', status: 200, log }, { callId: leased[1]?.callId as string, kind: 'dead', status: 422, error: 'HTTP 422 invalid', countAttempt: true }]);
  assert.deepEqual((await store.get('enc-3'))?.payload, samplePayload('enc-3', CANARY));
}

/** The OutboxKeyError of reading `callId`, naming `kid`. */
async function refusesWith(read: () => Promise<unknown>, kid: string): Promise<void> {
  await assert.rejects(read, (err: unknown) => {
    assert.ok(err instanceof OutboxKeyError, String(err));
    assert.equal(err.code, 'E_OUTBOX_KEY');
    assert.equal(err.kid, kid);
    assert.match(err.message, new RegExp(`key ${kid}`));
    return true;
  });
}

/** Rotation A → B with rekey, on any store (`raw` reads the stored payloads). */
async function rotation(open: (c: PayloadCipher) => Promise<OutboxStore>, raw: () => Map<string, unknown> | Promise<Map<string, unknown>>): Promise<void> {
  const plain = await open(PLAIN_PAYLOADS);
  await plain.enqueue(sampleItem('rot-0'));
  const a = await open(CIPHER_A);
  await a.enqueueMany([sampleItem('rot-1'), sampleItem('rot-2')]);
  const before = await raw();
  assert.deepEqual([...before.keys()].sort(), ['rot-0', 'rot-1', 'rot-2']);
  assert.equal((before.get('rot-0') as { kid?: string }).kid, undefined, 'written before the key: plain');
  assert.equal((before.get('rot-1') as { kid?: string }).kid, KID_A);

  const rotated = createPayloadCipher({ key: KEY_B, oldKeys: [KEY_A] });
  const b = await open(rotated);
  for (const id of ['rot-0', 'rot-1', 'rot-2']) assert.deepEqual((await b.get(id))?.payload, samplePayload(id), `${id} read under B with A old`);

  const dry = await rekeyOutbox(b, rotated, { dryRun: true, batchSize: 2 });
  assert.deepEqual(dry, { scanned: 3, current: 0, rewritten: 3, fromPlain: 1, fromKeys: { [KID_A]: 2 }, skipped: 0 });
  assert.deepEqual(await raw(), before, 'a dry run writes nothing');

  const done = await rekeyOutbox(b, rotated, { batchSize: 2 });
  assert.deepEqual(done, dry);
  const after = await raw();
  for (const [id, stored] of after) assert.equal((stored as { kid?: string }).kid, KID_B, `${id} under B`);
  assert.deepEqual(await rekeyOutbox(b, rotated, {}), { scanned: 3, current: 3, rewritten: 0, fromPlain: 0, fromKeys: {}, skipped: 0 });

  // A removed: still readable; without any key, or with A alone, a clear error naming B.
  const bOnly = await open(createPayloadCipher({ key: KEY_B }));
  for (const id of ['rot-0', 'rot-1', 'rot-2']) assert.deepEqual((await bOnly.get(id))?.payload, samplePayload(id));
  assert.equal(await probePayloads(bOnly), 1);
  await refusesWith(() => open(PLAIN_PAYLOADS).then((s) => s.get('rot-1')), KID_B);
  await refusesWith(() => open(CIPHER_A).then((s) => s.list({ state: 'pending' })), KID_B);
  await refusesWith(() => open(PLAIN_PAYLOADS).then((s) => probePayloads(s)), KID_B);
}

describe('SQLite outbox with CRM_OUTBOX_KEY', () => {
  for (const writer of ['auto', 'thread'] as const) {
    outboxContractSuite(`SQLite encrypted (writer ${writer})`, async (): Promise<OutboxFixture> => {
      const f = sqliteFile(writer);
      const store = await f.open(CIPHER_A);
      return { store, reopen: () => f.open(CIPHER_A), cleanup: f.cleanup };
    });
  }

  test('no transcript canary in the raw bytes of outbox.db and outbox.db-wal; every payload an envelope under the key', async () => {
    const f = sqliteFile('thread');
    try {
      const store = await f.open(CIPHER_A);
      await exercise(store);
      const files = [f.file, `${f.file}-wal`].filter((p) => existsSync(p));
      assert.ok(files.length >= 1);
      for (const p of files) {
        const bytes = readFileSync(p);
        assert.equal(bytes.indexOf(CANARY), -1, `${p} holds the canary`);
        assert.equal(bytes.indexOf('919999900001'), -1, `${p} holds the phone number`);
      }
      const raw = f.raw();
      assert.equal(raw.size, 3);
      for (const stored of raw.values()) assert.equal((stored as { kid: string }).kid, KID_A);
      // The control: without a key the same writes leave the canary in the file.
      const g = sqliteFile();
      try {
        await exercise(await g.open(PLAIN_PAYLOADS));
        const seen = [g.file, `${g.file}-wal`].filter((p) => existsSync(p)).some((p) => readFileSync(p).indexOf(CANARY) !== -1);
        assert.ok(seen, 'the canary is findable in a plain outbox');
      } finally {
        await g.cleanup();
      }
    } finally {
      await f.cleanup();
    }
  });

  test('rotation: A → B, rekey rewrites plain and A records under B (counted), then A removed', async () => {
    const f = sqliteFile();
    try {
      await rotation(f.open, f.raw);
    } finally {
      await f.cleanup();
    }
  });

  test('a payload copied onto another call does not open: an authentication error naming the key and the call', async () => {
    const f = sqliteFile();
    try {
      const store = await f.open(CIPHER_A);
      await store.enqueueMany([sampleItem('move-1'), sampleItem('move-2')]);
      const db = new DatabaseSync(f.file);
      db.prepare("UPDATE outbox SET payload = (SELECT payload FROM outbox WHERE call_id = 'move-1') WHERE call_id = 'move-2'").run();
      db.close();
      assert.deepEqual((await store.get('move-1'))?.payload, samplePayload('move-1'));
      await assert.rejects(store.get('move-2'), (err: unknown) => err instanceof OutboxKeyError && err.kid === KID_A && /move-2.*fails authentication/.test(err.message));
    } finally {
      await f.cleanup();
    }
  });
});

const skip = await redisSkipReason();
describe('BullMQ outbox with CRM_OUTBOX_KEY', { skip: skip ?? false }, () => {
  outboxContractSuite('BullMQ encrypted', async (): Promise<OutboxFixture> => {
    const q = bullmqQueue();
    const store = await q.open(CIPHER_A);
    return { store, reopen: () => q.open(CIPHER_A), cleanup: q.cleanup, recoveryMs: 300 };
  });

  test('no transcript canary in any Redis key of the queue; every payload an envelope under the key', async () => {
    const q = bullmqQueue();
    try {
      await exercise(await q.open(CIPHER_A));
      const text = await redisText(q.prefix);
      assert.ok(text.includes(KID_A) && text.includes('HTTP 422 invalid'), 'the search reads the job data and the history');
      assert.equal(text.indexOf(CANARY), -1);
      assert.equal(text.indexOf('919999900001'), -1);
      const raw = await q.raw();
      assert.equal(raw.size, 3);
      for (const stored of raw.values()) assert.equal((stored as { kid: string }).kid, KID_A);
    } finally {
      await q.cleanup();
    }
    // The control: without a key the canary is there.
    const p = bullmqQueue();
    try {
      await exercise(await p.open(PLAIN_PAYLOADS));
      assert.notEqual((await redisText(p.prefix)).indexOf(CANARY), -1);
    } finally {
      await p.cleanup();
    }
  });

  test('rotation: A → B, rekey rewrites plain and A records under B (counted), then A removed', async () => {
    const q = bullmqQueue();
    try {
      await rotation(q.open, q.raw);
    } finally {
      await q.cleanup();
    }
  });

  test('rekey while a worker holds a job: the leased job is skipped, the worker settles it, the next rekey rewrites it', async () => {
    const q = bullmqQueue();
    try {
      const a = await q.open(CIPHER_A);
      await a.enqueueMany([sampleItem('live-1'), sampleItem('live-2')]);
      const [held] = await a.lease({ limit: 1, leaseMs: 60_000, owner: 'w1' });
      assert.ok(held);
      const rotated = createPayloadCipher({ key: KEY_B, oldKeys: [KEY_A] });
      const b = await q.open(rotated);
      assert.deepEqual(await rekeyOutbox(b, rotated), { scanned: 2, current: 0, rewritten: 1, fromPlain: 0, fromKeys: { [KID_A]: 1 }, skipped: 1 });
      await a.settle('w1', [{ callId: held.callId, kind: 'delivered', status: 200 }]);
      assert.equal((await b.get(held.callId))?.state, 'delivered');
      assert.deepEqual(await rekeyOutbox(b, rotated), { scanned: 2, current: 1, rewritten: 1, fromPlain: 0, fromKeys: { [KID_A]: 1 }, skipped: 0 });
      for (const stored of (await q.raw()).values()) assert.equal((stored as { kid: string }).kid, KID_B);
      const bOnly = await q.open(createPayloadCipher({ key: KEY_B }));
      assert.deepEqual((await bOnly.get('live-1'))?.payload, samplePayload('live-1'));
      assert.deepEqual((await bOnly.get('live-2'))?.payload, samplePayload('live-2'));
    } finally {
      await q.cleanup();
    }
  });
});
