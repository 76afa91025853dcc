/**
 * The `OutboxStore` contract suite (DESIGN.md, "Delivery" → "Outbox"), written once and run against
 * every store: `outboxContractSuite('sqlite', factory)`. Times are passed explicitly wherever the
 * contract takes a `now`, so that nothing depends on the machine's speed.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { OutboxItem, OutboxStore, Settlement } from '../../src/outbox/outbox-store.ts';
import { sampleItem } from './sample-item.ts';

/** What a store factory gives the suite for one test. */
export interface OutboxFixture {
  store: OutboxStore;
  /** Open the same data again after the suite closed `store` (durability tests are skipped without it). */
  reopen?: () => Promise<OutboxStore>;
  /** Close whatever the fixture opened and remove its data. */
  cleanup: () => Promise<void>;
}

const LEASE_MS = 60_000;

/** Register the contract tests for one store; `factory` gives each test a fresh, empty store. */
export function outboxContractSuite(name: string, factory: () => Promise<OutboxFixture>): void {
  const withStore = (fn: (fixture: OutboxFixture) => Promise<void>) => async (): Promise<void> => {
    const fixture = await factory();
    try {
      await fn(fixture);
    } finally {
      await fixture.cleanup();
    }
  };

  /** Enqueue `ids` and return a `now` by which all of them are due. */
  const seed = async (store: OutboxStore, ids: readonly string[]): Promise<number> => {
    for (const id of ids) await store.enqueue(sampleItem(id));
    return Date.now() + 1;
  };

  const mustGet = async (store: OutboxStore, callId: string): Promise<OutboxItem> => {
    const item = await store.get(callId);
    assert.ok(item, `${callId} should be in the outbox`);
    return item;
  };

  const ids = (items: readonly OutboxItem[]): string[] => items.map((i) => i.callId);

  describe(`OutboxStore contract: ${name}`, () => {
    describe('enqueue', () => {
      test('stores a new item as pending and due now, with every field', withStore(async ({ store }) => {
        const before = Date.now();
        const item = sampleItem('CALL-1', { recordingPath: '/rec/a.ogg', sourceFile: '/conv/a.json' });
        assert.deepEqual(await store.enqueue(item), { callId: 'CALL-1', enqueued: true, state: 'pending' });
        const after = Date.now();
        const got = await mustGet(store, 'CALL-1');
        assert.deepEqual(got.payload, item.payload);
        assert.equal(got.sourceFile, '/conv/a.json');
        assert.equal(got.state, 'pending');
        assert.equal(got.attempts, 0);
        assert.equal(got.rateLimitWaits, 0);
        assert.ok(got.nextAttemptAt >= before && got.nextAttemptAt <= after, 'due at enqueue time');
        assert.ok(got.createdAt >= before && got.createdAt <= after);
        assert.ok(got.updatedAt >= got.createdAt);
        assert.equal(got.leaseOwner, null);
        assert.equal(got.leaseUntil, null);
        assert.equal(got.lastStatus, null);
        assert.equal(got.lastError, null);
        assert.equal(got.deliveredAt, null);
        assert.deepEqual(got.recording, { path: '/rec/a.ogg', url: null, size: null, duration: null, note: null });
      }));

      test('a missing sourceFile is stored as null; get of an unknown callId is null', withStore(async ({ store }) => {
        await store.enqueue({ ...sampleItem('CALL-1'), sourceFile: undefined });
        assert.equal((await mustGet(store, 'CALL-1')).sourceFile, null);
        assert.equal(await store.get('CALL-nope'), null);
      }));

      test('is idempotent: a second enqueue changes nothing and says so', withStore(async ({ store }) => {
        await store.enqueue(sampleItem('CALL-1', { marker: 'first', recordingPath: '/rec/1.ogg' }));
        const first = await mustGet(store, 'CALL-1');
        const again = await store.enqueue(sampleItem('CALL-1', { marker: 'second', recordingPath: '/rec/2.ogg', sourceFile: '/other.json' }));
        assert.deepEqual(again, { callId: 'CALL-1', enqueued: false, state: 'pending' });
        assert.deepEqual(await mustGet(store, 'CALL-1'), first, 'payload, recording and source of the second enqueue are ignored');
      }));

      test('a delivered, dead or leased item is left as it is by a new enqueue', withStore(async ({ store }) => {
        const now = await seed(store, ['D', 'X', 'L']);
        await store.lease({ limit: 3, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [
          { callId: 'D', kind: 'delivered', status: 201 },
          { callId: 'X', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
        ], now);
        const before = await Promise.all(['D', 'X', 'L'].map((id) => mustGet(store, id)));
        assert.deepEqual(await store.enqueue(sampleItem('D', { marker: 'again' })), { callId: 'D', enqueued: false, state: 'delivered' });
        assert.deepEqual(await store.enqueue(sampleItem('X', { marker: 'again' })), { callId: 'X', enqueued: false, state: 'dead' });
        assert.deepEqual(await store.enqueue(sampleItem('L', { marker: 'again' })), { callId: 'L', enqueued: false, state: 'in_flight' });
        assert.deepEqual(await Promise.all(['D', 'X', 'L'].map((id) => mustGet(store, id))), before);
      }));

      test('enqueueMany mixes new and existing items, and duplicates within the batch', withStore(async ({ store }) => {
        await store.enqueue(sampleItem('A', { marker: 'first' }));
        const results = await store.enqueueMany([
          sampleItem('A', { marker: 'second' }),
          sampleItem('B', { marker: 'first' }),
          sampleItem('C', { marker: 'first' }),
          sampleItem('B', { marker: 'second' }),
        ]);
        assert.deepEqual(results, [
          { callId: 'A', enqueued: false, state: 'pending' },
          { callId: 'B', enqueued: true, state: 'pending' },
          { callId: 'C', enqueued: true, state: 'pending' },
          { callId: 'B', enqueued: false, state: 'pending' },
        ]);
        for (const id of ['A', 'B', 'C']) {
          assert.deepEqual((await mustGet(store, id)).payload, sampleItem(id, { marker: 'first' }).payload);
        }
        assert.deepEqual(await store.enqueueMany([]), []);
      }));
    });

    describe('lease', () => {
      test('respects the limit and makes items in_flight for the owner until now + leaseMs', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C', 'D', 'E']);
        const leased = await store.lease({ limit: 3, leaseMs: 5000, owner: 'w1', now });
        assert.equal(leased.length, 3);
        for (const item of leased) {
          assert.equal(item.state, 'in_flight');
          assert.equal(item.leaseOwner, 'w1');
          assert.equal(item.leaseUntil, now + 5000);
          assert.deepEqual(await mustGet(store, item.callId), item, 'what lease returns is what is stored');
        }
        const counts = await store.counts(now);
        assert.equal(counts.in_flight, 3);
        assert.equal(counts.pending, 2);
        assert.deepEqual(await store.lease({ limit: 0, leaseMs: 5000, owner: 'w1', now }), []);
      }));

      test('leases only due items, oldest due first', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C', 'D']);
        await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [
          { callId: 'A', kind: 'retry', nextAttemptAt: now + 300, status: 503, error: 'e' },
          { callId: 'B', kind: 'retry', nextAttemptAt: now + 100, status: 503, error: 'e' },
          { callId: 'C', kind: 'wait', nextAttemptAt: now + 200, status: 429, error: 'e' },
          { callId: 'D', kind: 'retry', nextAttemptAt: now + 10_000, status: 503, error: 'e' },
        ], now);
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now: now + 99 }), []);
        assert.deepEqual(ids(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now: now + 1000 })), ['B', 'C', 'A']);
      }));

      test('limit takes the oldest due items', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C']);
        await store.lease({ limit: 3, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [
          { callId: 'A', kind: 'retry', nextAttemptAt: now + 30, status: null, error: 'e' },
          { callId: 'B', kind: 'retry', nextAttemptAt: now + 10, status: null, error: 'e' },
          { callId: 'C', kind: 'retry', nextAttemptAt: now + 20, status: null, error: 'e' },
        ], now);
        assert.deepEqual(ids(await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w', now: now + 50 })), ['B', 'C']);
      }));

      test('callIds restricts the lease to those items', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C', 'D']);
        const leased = await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['D', 'B', 'missing', 'B'] });
        assert.deepEqual(ids(leased).sort(), ['B', 'D']);
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now, callIds: [] }), []);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['A', 'C'] })).length, 1);
        assert.equal((await store.counts(now)).pending, 1);
      }));

      test('two owners never lease the same item', withStore(async ({ store }) => {
        const all = Array.from({ length: 10 }, (_, i) => `C${i}`);
        const now = await seed(store, all);
        const a = await store.lease({ limit: 3, leaseMs: LEASE_MS, owner: 'a', now });
        const b = await store.lease({ limit: 100, leaseMs: LEASE_MS, owner: 'b', now });
        assert.equal(a.length, 3);
        assert.equal(b.length, 7);
        assert.deepEqual([...ids(a), ...ids(b)].sort(), [...all].sort());
        assert.deepEqual(await store.lease({ limit: 100, leaseMs: LEASE_MS, owner: 'c', now }), []);
      }));

      test('concurrent leases are disjoint', withStore(async ({ store }) => {
        const all = Array.from({ length: 20 }, (_, i) => `C${i}`);
        const now = await seed(store, all);
        const batches = await Promise.all(
          ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((owner) => store.lease({ limit: 3, leaseMs: LEASE_MS, owner, now })),
        );
        const leased = batches.flatMap(ids);
        assert.equal(new Set(leased).size, leased.length, 'no item in two leases');
        assert.equal(leased.length, 20);
      }));

      test('an expired lease goes back into circulation; a live one does not', withStore(async ({ store }) => {
        const now = await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: 1000, owner: 'old', now });
        assert.deepEqual(await store.lease({ limit: 1, leaseMs: 1000, owner: 'new', now: now + 500 }), []);
        const taken = await store.lease({ limit: 1, leaseMs: 1000, owner: 'new', now: now + 1001 });
        assert.deepEqual(ids(taken), ['A']);
        assert.equal(taken[0]?.leaseOwner, 'new');
        assert.equal(taken[0]?.leaseUntil, now + 2001);
        assert.equal(taken[0]?.attempts, 0, 'an expired lease is not an attempt');
      }));
    });

    describe('settle', () => {
      test('retry: attempts + 1, back to pending at nextAttemptAt, with status and error', withStore(async ({ store }) => {
        const now = await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: now + 5000, status: 503, error: 'HTTP 503' }], now + 10);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'pending');
        assert.equal(a.attempts, 1);
        assert.equal(a.rateLimitWaits, 0);
        assert.equal(a.nextAttemptAt, now + 5000);
        assert.equal(a.lastStatus, 503);
        assert.equal(a.lastError, 'HTTP 503');
        assert.equal(a.leaseOwner, null);
        assert.equal(a.leaseUntil, null);
        assert.equal(a.deliveredAt, null);
        assert.deepEqual(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now: now + 4999 }), []);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now: now + 5000 })), ['A']);
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: now + 9000, status: null, error: 'ECONNRESET' }], now + 5001);
        const again = await mustGet(store, 'A');
        assert.equal(again.attempts, 2);
        assert.equal(again.lastStatus, null, 'a network error has no status');
        assert.equal(again.lastError, 'ECONNRESET');
      }));

      test('wait: rateLimitWaits + 1, attempts unchanged', withStore(async ({ store }) => {
        const now = await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: now, status: 500, error: 'e' }], now);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [{ callId: 'A', kind: 'wait', nextAttemptAt: now + 60_000, status: 429, error: 'Retry-After 60' }], now);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'pending');
        assert.equal(a.attempts, 1);
        assert.equal(a.rateLimitWaits, 1);
        assert.equal(a.nextAttemptAt, now + 60_000);
        assert.equal(a.lastStatus, 429);
        assert.equal(a.lastError, 'Retry-After 60');
        assert.equal(a.leaseOwner, null);
      }));

      test('dead: final, attempts + 1 only when countAttempt', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B']);
        await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [
          { callId: 'A', kind: 'dead', status: 400, error: 'missing field campaignId', countAttempt: true },
          { callId: 'B', kind: 'dead', status: null, error: 'invalid payload', countAttempt: false },
        ], now);
        const a = await mustGet(store, 'A');
        const b = await mustGet(store, 'B');
        assert.equal(a.state, 'dead');
        assert.equal(a.attempts, 1);
        assert.equal(a.lastStatus, 400);
        assert.equal(a.lastError, 'missing field campaignId');
        assert.equal(a.leaseOwner, null);
        assert.equal(a.deliveredAt, null);
        assert.equal(b.state, 'dead');
        assert.equal(b.attempts, 0);
        assert.equal(b.lastStatus, null);
        assert.equal(b.lastError, 'invalid payload');
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now: now + 1e9 }), [], 'dead is never leased');
      }));

      test('delivered: final, deliveredAt = now, attempts + 1, last error cleared', withStore(async ({ store }) => {
        const now = await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: now, status: 502, error: 'bad gateway' }], now);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [{ callId: 'A', kind: 'delivered', status: 201 }], now + 7);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'delivered');
        assert.equal(a.deliveredAt, now + 7);
        assert.equal(a.attempts, 2);
        assert.equal(a.lastStatus, 201);
        assert.equal(a.lastError, null);
        assert.equal(a.leaseOwner, null);
        assert.equal(a.leaseUntil, null);
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now: now + 1e9 }), [], 'delivered is never leased');
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: now, status: 500, error: 'late' }], now + 8);
        assert.deepEqual(await mustGet(store, 'A'), a, 'a settle after delivered changes nothing');
      }));

      test('a batch mixes kinds in one call; an empty batch is fine', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C', 'D']);
        await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [
          { callId: 'A', kind: 'delivered', status: 200 },
          { callId: 'B', kind: 'retry', nextAttemptAt: now + 1, status: 504, error: 'timeout' },
          { callId: 'C', kind: 'wait', nextAttemptAt: now + 2, status: 429, error: 'rate' },
          { callId: 'D', kind: 'dead', status: 422, error: 'bad', countAttempt: true },
        ], now);
        const states = await store.states(['A', 'B', 'C', 'D']);
        assert.deepEqual(Object.fromEntries(states), { A: 'delivered', B: 'pending', C: 'pending', D: 'dead' });
        await store.settle('w', [], now);
      }));

      test('only the lease holder can record a failure', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['A'] });
        const before = await Promise.all([mustGet(store, 'A'), mustGet(store, 'B')]);
        await store.settle('intruder', [
          { callId: 'A', kind: 'retry', nextAttemptAt: now + 1, status: 500, error: 'x' },
          { callId: 'A', kind: 'dead', status: 400, error: 'x', countAttempt: true },
          { callId: 'B', kind: 'wait', nextAttemptAt: now + 1, status: 429, error: 'not leased at all' },
        ], now);
        await store.release('intruder', ['A']);
        assert.deepEqual(await Promise.all([mustGet(store, 'A'), mustGet(store, 'B')]), before);
      }));

      test('after a takeover the stale owner cannot overwrite the new owner, but its delivered counts', withStore(async ({ store }) => {
        const now = await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: 1000, owner: 'old', now });
        await store.lease({ limit: 1, leaseMs: 1000, owner: 'new', now: now + 2000 });
        const held = await mustGet(store, 'A');
        await store.settle('old', [{ callId: 'A', kind: 'retry', nextAttemptAt: now + 1, status: 503, error: 'stale' }], now + 2100);
        await store.settle('old', [{ callId: 'A', kind: 'wait', nextAttemptAt: now + 1, status: 429, error: 'stale' }], now + 2100);
        await store.settle('old', [{ callId: 'A', kind: 'dead', status: 400, error: 'stale', countAttempt: true }], now + 2100);
        await store.release('old', ['A']);
        assert.deepEqual(await mustGet(store, 'A'), held, 'the new owner keeps the item');
        // The old owner's POST got a 2xx: the CRM has the call, so it is delivered whoever says so.
        await store.settle('old', [{ callId: 'A', kind: 'delivered', status: 201 }], now + 2200);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'delivered');
        assert.equal(a.deliveredAt, now + 2200);
        // The new owner's own outcome then cannot undo it.
        await store.settle('new', [{ callId: 'A', kind: 'retry', nextAttemptAt: now + 1, status: 500, error: 'late' }], now + 2300);
        assert.deepEqual(await mustGet(store, 'A'), a);
      }));

      test('a stale delivered does not resurrect a dead item', withStore(async ({ store }) => {
        const now = await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: 1000, owner: 'old', now });
        await store.lease({ limit: 1, leaseMs: 1000, owner: 'new', now: now + 2000 });
        await store.settle('new', [{ callId: 'A', kind: 'dead', status: 400, error: 'rejected', countAttempt: true }], now + 2100);
        const dead = await mustGet(store, 'A');
        await store.settle('old', [{ callId: 'A', kind: 'delivered', status: 201 }], now + 2200);
        assert.deepEqual(await mustGet(store, 'A'), dead);
      }));
    });

    describe('settleAndLease', () => {
      test('applies the settlements first, then leases, and returns what it leased', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C', 'D']);
        await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['A', 'B'] });
        const leased = await store.settleAndLease('w', [
          { callId: 'A', kind: 'delivered', status: 201 },
          // Due at once: only a lease that runs after the settlements can take it back.
          { callId: 'B', kind: 'retry', nextAttemptAt: now + 5, status: 503, error: 'busy' },
        ], { limit: 10, leaseMs: 5000, now: now + 10 });
        assert.deepEqual(ids(leased), ['C', 'D', 'B'], 'every due item, oldest due first');
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'delivered');
        assert.equal(a.deliveredAt, now + 10, 'the settlements use the lease’s now');
        const b = await mustGet(store, 'B');
        assert.deepEqual(
          { state: b.state, attempts: b.attempts, lastStatus: b.lastStatus, lastError: b.lastError, leaseOwner: b.leaseOwner, leaseUntil: b.leaseUntil },
          { state: 'in_flight', attempts: 1, lastStatus: 503, lastError: 'busy', leaseOwner: 'w', leaseUntil: now + 5010 },
        );
        for (const item of leased) assert.deepEqual(await mustGet(store, item.callId), item, 'what it returns is what is stored');
      }));

      test('has the guards of settle: a stranger’s failure changes nothing, a stale delivered counts, final stays final', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'D', 'X']);
        await store.lease({ limit: 1, leaseMs: 1000, owner: 'old', now, callIds: ['B'] });
        await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['A', 'D', 'X'] });
        await store.settle('w', [
          { callId: 'D', kind: 'delivered', status: 201 },
          { callId: 'X', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
        ], now);
        const before = await Promise.all(['A', 'D', 'X'].map((id) => mustGet(store, id)));
        const leased = await store.settleAndLease('intruder', [
          { callId: 'A', kind: 'retry', nextAttemptAt: now, status: 500, error: 'not mine' },
          { callId: 'A', kind: 'dead', status: 400, error: 'not mine', countAttempt: true },
          { callId: 'D', kind: 'retry', nextAttemptAt: now, status: 500, error: 'after delivered' },
          { callId: 'X', kind: 'delivered', status: 201 },
          // B's lease belongs to 'old', but a 2xx is a fact whoever reports it: the delivered applies.
          { callId: 'B', kind: 'delivered', status: 201 },
        ], { limit: 10, leaseMs: LEASE_MS, now: now + 1 });
        assert.deepEqual(leased, [], 'nothing was made due');
        assert.deepEqual(await Promise.all(['A', 'D', 'X'].map((id) => mustGet(store, id))), before);
        assert.equal((await mustGet(store, 'B')).state, 'delivered');
      }));

      test('all or nothing: a settlement that fails rolls back the ones before it and the lease', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C']);
        await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['A', 'B'] });
        const before = await Promise.all(['A', 'B', 'C'].map((id) => mustGet(store, id)));
        const broken = { callId: 'B', kind: 'lost', status: null } as unknown as Settlement;
        await assert.rejects(store.settleAndLease('w', [{ callId: 'A', kind: 'delivered', status: 201 }, broken], { limit: 10, leaseMs: LEASE_MS, now }));
        assert.deepEqual(await Promise.all(['A', 'B', 'C'].map((id) => mustGet(store, id))), before);
        // Bad lease options reject before anything is written.
        await assert.rejects(store.settleAndLease('w', [{ callId: 'A', kind: 'delivered', status: 201 }], { limit: -1, leaseMs: LEASE_MS, now }));
        await assert.rejects(store.settleAndLease('', [{ callId: 'A', kind: 'delivered', status: 201 }], { limit: 1, leaseMs: LEASE_MS, now }));
        assert.deepEqual(await Promise.all(['A', 'B', 'C'].map((id) => mustGet(store, id))), before);
      }));

      test('without settlements it is lease; with limit 0 or no callIds it is settle', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C']);
        assert.deepEqual(ids(await store.settleAndLease('w', [], { limit: 1, leaseMs: LEASE_MS, now })), ['A']);
        assert.deepEqual(ids(await store.settleAndLease('w', [], { limit: 5, leaseMs: LEASE_MS, now, callIds: ['C'] })), ['C']);
        assert.deepEqual(await store.settleAndLease('w', [{ callId: 'A', kind: 'delivered', status: 201 }], { limit: 0, leaseMs: LEASE_MS, now }), []);
        assert.deepEqual(await store.settleAndLease('w', [{ callId: 'C', kind: 'dead', status: 422, error: 'x', countAttempt: true }], { limit: 5, leaseMs: LEASE_MS, now, callIds: [] }), []);
        assert.deepEqual(Object.fromEntries(await store.states(['A', 'B', 'C'])), { A: 'delivered', B: 'pending', C: 'dead' });
        assert.deepEqual(await store.settleAndLease('w', [], { limit: 0, leaseMs: LEASE_MS, now }), []);
      }));

      test('concurrent calls of two owners lease disjoint items', withStore(async ({ store }) => {
        const all = Array.from({ length: 12 }, (_, i) => `C${i}`);
        const now = await seed(store, all);
        const first = await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'a', now });
        const delivered = (items: readonly OutboxItem[]): Settlement[] => items.map((i) => ({ callId: i.callId, kind: 'delivered', status: 201 }));
        const [a, b] = await Promise.all([
          store.settleAndLease('a', delivered(first), { limit: 5, leaseMs: LEASE_MS, now }),
          store.settleAndLease('b', [], { limit: 5, leaseMs: LEASE_MS, now }),
        ]);
        const leased = [...ids(a), ...ids(b)];
        assert.equal(new Set(leased).size, 8, 'no item in two leases, none of the delivered ones');
        assert.ok(leased.every((id) => !ids(first).includes(id)));
        assert.equal((await store.counts(now)).delivered, 4);
      }));
    });

    describe('release', () => {
      test('gives the owner’s items back: pending, due now, attempts unchanged', withStore(async ({ store }) => {
        const now = await seed(store, ['A', 'B', 'C']);
        await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['A', 'B'] });
        await store.release('w', ['A', 'B', 'C', 'missing']);
        for (const id of ['A', 'B']) {
          const item = await mustGet(store, id);
          assert.equal(item.state, 'pending');
          assert.equal(item.attempts, 0);
          assert.equal(item.leaseOwner, null);
          assert.equal(item.leaseUntil, null);
          assert.ok(item.nextAttemptAt <= Date.now(), 'due now');
        }
        assert.equal((await mustGet(store, 'C')).state, 'pending');
        const again = await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'other', now: Date.now() + 1 });
        assert.deepEqual(ids(again).sort(), ['A', 'B', 'C']);
        await store.release('other', []);
      }));
    });

    describe('checkpointRecording', () => {
      test('stores only the given fields and leaves state and lease alone', withStore(async ({ store }) => {
        const now = await seed(store, []);
        await store.enqueue(sampleItem('A', { recordingPath: '/rec/a.ogg' }));
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now: now + 10 });
        await store.checkpointRecording('A', { url: 'https://crm.example/rec/a.ogg' });
        await store.checkpointRecording('A', { size: 123_456, duration: 95 });
        let a = await mustGet(store, 'A');
        assert.deepEqual(a.recording, { path: '/rec/a.ogg', url: 'https://crm.example/rec/a.ogg', size: 123_456, duration: 95, note: null });
        assert.equal(a.state, 'in_flight');
        assert.equal(a.leaseOwner, 'w');
        await store.checkpointRecording('A', { url: null, note: 'recording still growing after 120s; sent without it' });
        a = await mustGet(store, 'A');
        assert.deepEqual(a.recording, { path: '/rec/a.ogg', url: null, size: 123_456, duration: 95, note: 'recording still growing after 120s; sent without it' });
      }));

      test('an unknown callId is an error, not a silent no-op', withStore(async ({ store }) => {
        await assert.rejects(store.checkpointRecording('missing', { url: 'https://crm.example/x' }));
      }));

      test('survives a reopen', withStore(async (fixture) => {
        if (!fixture.reopen) return;
        await fixture.store.enqueue(sampleItem('A', { recordingPath: '/rec/a.ogg' }));
        await fixture.store.checkpointRecording('A', { url: 'https://crm.example/a', size: 10, duration: 2, note: 'n' });
        await fixture.store.close();
        const reopened = await fixture.reopen();
        assert.deepEqual((await mustGet(reopened, 'A')).recording, { path: '/rec/a.ogg', url: 'https://crm.example/a', size: 10, duration: 2, note: 'n' });
      }));
    });

    describe('replay', () => {
      test('puts chosen dead items back to pending, due now, attempts and waits reset', withStore(async ({ store }) => {
        const now = await seed(store, ['D1', 'D2', 'D3', 'P']);
        await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [
          { callId: 'D1', kind: 'wait', nextAttemptAt: now, status: 429, error: 'r' },
          { callId: 'P', kind: 'retry', nextAttemptAt: now + 1e9, status: 500, error: 'later' },
        ], now);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['D1'] });
        await store.settle('w', [
          { callId: 'D1', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
          { callId: 'D2', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
          { callId: 'D3', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
        ], now);
        const pendingBefore = await mustGet(store, 'P');
        assert.equal(await store.replay(['D1', 'P', 'missing']), 1);
        const d1 = await mustGet(store, 'D1');
        assert.equal(d1.state, 'pending');
        assert.equal(d1.attempts, 0);
        assert.equal(d1.rateLimitWaits, 0);
        assert.ok(d1.nextAttemptAt <= Date.now());
        assert.equal(d1.leaseOwner, null);
        assert.deepEqual(await mustGet(store, 'P'), pendingBefore, 'a pending item is not touched');
        assert.equal(await store.replay([]), 0);
        assert.equal(await store.replay('all'), 2);
        assert.equal(await store.replay('all'), 0);
        const counts = await store.counts();
        assert.equal(counts.dead, 0);
        assert.equal(counts.pending, 4);
        const leased = await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', now: Date.now() + 1 });
        assert.deepEqual(ids(leased).sort(), ['D1', 'D2', 'D3']);
      }));
    });

    describe('queries', () => {
      test('counts by state and the earliest pending due time', withStore(async ({ store }) => {
        assert.deepEqual(await store.counts(), { pending: 0, in_flight: 0, delivered: 0, dead: 0, nextAttemptAt: null });
        const now = await seed(store, ['A', 'B', 'C', 'D', 'E', 'F']);
        await store.lease({ limit: 6, leaseMs: LEASE_MS, owner: 'w', now });
        await store.settle('w', [
          { callId: 'A', kind: 'delivered', status: 201 },
          { callId: 'B', kind: 'dead', status: 400, error: 'x', countAttempt: true },
          { callId: 'C', kind: 'retry', nextAttemptAt: now + 500, status: 503, error: 'x' },
          { callId: 'D', kind: 'wait', nextAttemptAt: now + 200, status: 429, error: 'x' },
        ], now);
        assert.deepEqual(await store.counts(now), { pending: 2, in_flight: 2, delivered: 1, dead: 1, nextAttemptAt: now + 200 });
        await store.settle('w', [{ callId: 'E', kind: 'delivered', status: 201 }, { callId: 'F', kind: 'delivered', status: 201 }], now);
        await store.lease({ limit: 6, leaseMs: LEASE_MS, owner: 'w', now: now + 1000 });
        // Only leases are left: the next item becomes leasable when the first of them expires.
        assert.deepEqual(await store.counts(now + 1000), { pending: 0, in_flight: 2, delivered: 3, dead: 1, nextAttemptAt: now + 1000 + LEASE_MS });
        await store.settle('w', [{ callId: 'C', kind: 'delivered', status: 201 }, { callId: 'D', kind: 'delivered', status: 201 }], now + 1001);
        assert.equal((await store.counts()).nextAttemptAt, null, 'nothing pending or in flight');
      }));

      test('nextAttemptAt and nextDueAt: the earliest pending due time or lease expiry', withStore(async ({ store }) => {
        assert.equal(await store.nextDueAt(), null);
        const now = await seed(store, ['A', 'B', 'C']);
        // A crashed process holds A; B waits for a retry; C is due now.
        await store.lease({ limit: 1, leaseMs: 3000, owner: 'crashed', now, callIds: ['A'] });
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['B'] });
        await store.settle('w', [{ callId: 'B', kind: 'retry', nextAttemptAt: now + 5000, status: 503, error: 'x' }], now);
        const cDue = (await mustGet(store, 'C')).nextAttemptAt;
        assert.equal((await store.counts(now)).nextAttemptAt, cDue);
        assert.equal(await store.nextDueAt(), cDue);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['C'] });
        await store.settle('w', [{ callId: 'C', kind: 'delivered', status: 201 }], now);
        // The crashed lease expires before B's retry: a waiting run must wake up then.
        assert.equal((await store.counts(now)).nextAttemptAt, now + 3000);
        assert.equal(await store.nextDueAt(), now + 3000);
        assert.equal(await store.nextDueAt({ callIds: ['B', 'C', 'missing'] }), now + 5000, 'restricted to callIds');
        assert.equal(await store.nextDueAt({ callIds: ['C'] }), null, 'C is final');
        assert.equal(await store.nextDueAt({ callIds: [] }), null);
        // An expired lease stays in the figure (due now) until someone takes the item over.
        const taken = await store.lease({ limit: 5, leaseMs: LEASE_MS, owner: 'w', now: now + 4000 });
        assert.deepEqual(ids(taken), ['A']);
        assert.equal((await store.counts(now + 4000)).nextAttemptAt, now + 5000);
        const many = Array.from({ length: 1203 }, (_, i) => `M${i}`);
        assert.equal(await store.nextDueAt({ callIds: [...many, 'B'] }), now + 5000, 'long lists too');
      }));

      test('list gives one state, oldest first, with limit and offset', withStore(async ({ store }) => {
        for (const id of ['A', 'B', 'C', 'D', 'E']) {
          await store.enqueue(sampleItem(id));
          await sleep(2); // distinct creation times, so "oldest first" has one answer
        }
        const now = Date.now() + 1;
        await store.lease({ limit: 5, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['B', 'D', 'E'] });
        await store.settle('w', [
          { callId: 'E', kind: 'dead', status: 400, error: 'x', countAttempt: true },
          { callId: 'B', kind: 'dead', status: 400, error: 'y', countAttempt: true },
        ], now);
        assert.deepEqual(ids(await store.list({ state: 'pending' })), ['A', 'C']);
        assert.deepEqual(ids(await store.list({ state: 'in_flight' })), ['D']);
        assert.deepEqual(ids(await store.list({ state: 'delivered' })), []);
        const dead = await store.list({ state: 'dead' });
        assert.deepEqual(ids(dead), ['B', 'E']);
        assert.equal(dead[0]?.lastError, 'y');
        assert.deepEqual(dead[0]?.payload, sampleItem('B').payload);
        assert.deepEqual(ids(await store.list({ state: 'pending', limit: 1 })), ['A']);
        assert.deepEqual(ids(await store.list({ state: 'pending', limit: 1, offset: 1 })), ['C']);
        assert.deepEqual(ids(await store.list({ state: 'pending', offset: 2 })), []);
      }));

      test('states maps known callIds and leaves unknown ones out, for long lists too', withStore(async ({ store }) => {
        const many = Array.from({ length: 1203 }, (_, i) => `CALL-${String(i).padStart(4, '0')}`);
        await store.enqueueMany(many.map((id) => sampleItem(id)));
        const now = Date.now() + 1;
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', now, callIds: ['CALL-0007'] });
        await store.settle('w', [{ callId: 'CALL-0007', kind: 'delivered', status: 200 }], now);
        const states = await store.states([...many, 'nope']);
        assert.equal(states.size, 1203);
        assert.equal(states.get('CALL-0007'), 'delivered');
        assert.equal(states.get('CALL-1202'), 'pending');
        assert.equal(states.has('nope'), false);
        assert.equal((await store.states([])).size, 0);
      }));
    });

    describe('durability', () => {
      test('after a reopen every item and field is still there', withStore(async (fixture) => {
        if (!fixture.reopen) return;
        const { store } = fixture;
        const now = await seed(store, ['A', 'B', 'C', 'D', 'E']);
        await store.enqueueMany([sampleItem('F', { recordingPath: '/rec/f.ogg' })]);
        await store.lease({ limit: 6, leaseMs: LEASE_MS, owner: 'w', now: now + 1 });
        await store.settle('w', [
          { callId: 'A', kind: 'delivered', status: 201 },
          { callId: 'B', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
          { callId: 'C', kind: 'retry', nextAttemptAt: now + 500, status: 503, error: 'x' },
          { callId: 'D', kind: 'wait', nextAttemptAt: now + 200, status: 429, error: 'y' },
        ], now + 2);
        await store.checkpointRecording('F', { url: 'https://crm.example/f', size: 5, duration: 1 });
        const all = ['A', 'B', 'C', 'D', 'E', 'F'];
        const before = await Promise.all(all.map((id) => mustGet(store, id)));
        const countsBefore = await store.counts(now);
        await store.close();
        const reopened = await fixture.reopen();
        assert.deepEqual(await Promise.all(all.map((id) => mustGet(reopened, id))), before);
        assert.deepEqual(await reopened.counts(now), countsBefore);
        // A lease held when the process stopped is still a lease: it comes back only once it expires.
        assert.deepEqual(await reopened.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w2', now: now + 10 }), []);
        const expired = await reopened.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w2', now: now + 2 * LEASE_MS });
        assert.deepEqual(ids(expired).sort(), ['C', 'D', 'E', 'F']);
        assert.deepEqual(ids(expired).slice(2), ['D', 'C'], 'still in due order');
      }));
    });
  });
}
