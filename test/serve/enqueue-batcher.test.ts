/**
 * Group commit of the ingest API on a real SQLite outbox: enqueues that arrive together share one
 * transaction, each resolves with its own result once committed, and a repeat within a group is
 * still a repeat.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutboxStore } from '../../src/outbox/outbox-store.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { createEnqueueBatcher } from '../../src/serve/enqueue-batcher.ts';
import { makePayload } from '../helpers/payloads.ts';

/** The real store, counting the write calls that reach it. */
function counting(store: OutboxStore): { store: OutboxStore; calls: string[] } {
  const calls: string[] = [];
  const wrapped: OutboxStore = Object.create(store) as OutboxStore;
  wrapped.enqueue = (item) => {
    calls.push('enqueue');
    return store.enqueue(item);
  };
  wrapped.enqueueMany = (items) => {
    calls.push(`enqueueMany(${items.length})`);
    return store.enqueueMany(items);
  };
  return { store: wrapped, calls };
}

const item = (i: number) => {
  const payload = makePayload(i);
  return { callId: payload.callDetails.callId, payload, recordingPath: null };
};

describe('createEnqueueBatcher', () => {
  test('enqueues asked for together commit together; each gets its own result; a duplicate is not enqueued twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crm-batcher-'));
    const store = openSqliteOutbox(join(dir, 'outbox.db'));
    try {
      const { store: counted, calls } = counting(store);
      const batcher = createEnqueueBatcher(counted, 8);
      const results = await Promise.all([...Array.from({ length: 20 }, (_, i) => batcher.enqueue(item(i))), batcher.enqueue(item(3))]);
      assert.deepEqual(calls, ['enqueueMany(8)', 'enqueueMany(8)', 'enqueueMany(5)']);
      assert.deepEqual(
        results.map((r) => r.enqueued),
        [...Array.from({ length: 20 }, () => true), false],
      );
      assert.deepEqual(results.map((r) => r.callId), [...Array.from({ length: 20 }, (_, i) => item(i).callId), item(3).callId]);
      assert.equal((await store.counts()).pending, 20);

      // One on its own is a plain enqueue.
      calls.length = 0;
      assert.equal((await batcher.enqueue(item(99))).enqueued, true);
      assert.deepEqual(calls, ['enqueue']);
      await batcher.idle();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a failing store rejects every enqueue of the group, and the next group still runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crm-batcher-'));
    const store = openSqliteOutbox(join(dir, 'outbox.db'));
    try {
      const batcher = createEnqueueBatcher(store);
      const bad = { ...item(1), payload: undefined as unknown as ReturnType<typeof makePayload> };
      const settled = await Promise.allSettled([batcher.enqueue(item(0)), batcher.enqueue(bad)]);
      assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected']);
      assert.equal((await batcher.enqueue(item(2))).enqueued, true);
      assert.equal(await store.get(item(0).callId), null, 'the failed group committed nothing');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
