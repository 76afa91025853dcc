/**
 * The `OutboxStore` contract suite (docs/architecture.md, "Delivery" → "Outbox"), written once and run unchanged
 * against every store: `outboxContractSuite('SQLite', factory)`, `outboxContractSuite('BullMQ', …)`.
 *
 * It runs on the real clock, because a shared queue (BullMQ on Redis) decides on its own clock when a
 * job is due and when a lock has expired: nothing here passes a `now`. Waits are short (a few hundred
 * ms) and bounded. Where a store may take a moment to notice something (an expired lease comes back
 * through BullMQ's stalled-job check), the suite polls until it happens, within the fixture's
 * `recoveryMs`, and never asserts how fast.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { AttemptLogEntry, OutboxItem, OutboxStore, Settlement } from '../../src/outbox/outbox-store.ts';
import { sampleItem } from './sample-item.ts';

/** What a store factory gives the suite for one test. */
export interface OutboxFixture {
  store: OutboxStore;
  /** Open the same data again after the suite closed `store` (durability tests are skipped without it). */
  reopen?: () => Promise<OutboxStore>;
  /** Close whatever the fixture opened and remove its data. */
  cleanup: () => Promise<void>;
  /**
   * At most how long after a lease has expired the item can be leased again (0 for a store that checks
   * expiry in every lease; BullMQ moves stalled jobs back on a timer). Default 0.
   */
  recoveryMs?: number;
}

/** A lease long enough never to expire within a test. */
const LEASE_MS = 60_000;
/** A lease that expires within a test. */
const SHORT_LEASE_MS = 300;
/** Clock tolerance between what a store reports and the test's own clock (a networked store's round trips). */
const TOL = 50;

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

  /** Enqueue `ids` one by one (so that they are due in this order). */
  const seed = async (store: OutboxStore, ids: readonly string[]): Promise<void> => {
    for (const id of ids) await store.enqueue(sampleItem(id));
  };

  const mustGet = async (store: OutboxStore, callId: string): Promise<OutboxItem> => {
    const item = await store.get(callId);
    assert.ok(item, `${callId} should be in the outbox`);
    return item;
  };

  const ids = (items: readonly OutboxItem[]): string[] => items.map((i) => i.callId);

  /** An item without the fields a store may compute at read time (lease expiry, update time). */
  const stable = (item: OutboxItem): Omit<OutboxItem, 'leaseUntil' | 'updatedAt'> => {
    const { leaseUntil: _l, updatedAt: _u, ...rest } = item;
    return rest;
  };

  const near = (actual: number | null, expected: number, what: string): void => {
    assert.ok(actual !== null && Math.abs(actual - expected) <= TOL, `${what}: ${actual} is not within ${TOL} ms of ${expected}`);
  };

  /** Lease one item with `owner` until `callId` comes back, polling; fails after `withinMs`. */
  const leaseWhenBack = async (store: OutboxStore, owner: string, withinMs: number, leaseMs = LEASE_MS): Promise<OutboxItem[]> => {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const got = await store.lease({ limit: 10, leaseMs, owner });
      if (got.length > 0 || Date.now() > deadline) return got;
      await sleep(20);
    }
  };

  /** How long to wait for an expired lease to come back: its rest, the store's recovery, and slack. */
  const backWithin = (fixture: OutboxFixture, leaseMs: number): number => leaseMs + (fixture.recoveryMs ?? 0) + 3_000;

  const delivered = (items: readonly OutboxItem[]): Settlement[] => items.map((i) => ({ callId: i.callId, kind: 'delivered', status: 201 }));

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
        assert.ok(got.nextAttemptAt >= before - TOL && got.nextAttemptAt <= after + TOL, 'due at enqueue time');
        assert.ok(got.createdAt >= before - TOL && got.createdAt <= after + TOL);
        assert.ok(got.updatedAt >= got.createdAt);
        assert.equal(got.leaseOwner, null);
        assert.equal(got.leaseUntil, null);
        assert.equal(got.lastStatus, null);
        assert.equal(got.lastError, null);
        assert.equal(got.deliveredAt, null);
        assert.deepEqual(got.recording, { path: '/rec/a.ogg', url: null, size: null, duration: null, note: null });
        assert.deepEqual(await store.history('CALL-1'), []);
      }));

      test('a missing sourceFile is stored as null; get of an unknown callId is null', withStore(async ({ store }) => {
        await store.enqueue({ ...sampleItem('CALL-1'), sourceFile: undefined });
        assert.equal((await mustGet(store, 'CALL-1')).sourceFile, null);
        assert.equal(await store.get('CALL-nope'), null);
        assert.deepEqual(await store.history('CALL-nope'), []);
      }));

      test('is idempotent: a second enqueue changes nothing and says so', withStore(async ({ store }) => {
        await store.enqueue(sampleItem('CALL-1', { marker: 'first', recordingPath: '/rec/1.ogg' }));
        const first = await mustGet(store, 'CALL-1');
        const again = await store.enqueue(sampleItem('CALL-1', { marker: 'second', recordingPath: '/rec/2.ogg', sourceFile: '/other.json' }));
        assert.deepEqual(again, { callId: 'CALL-1', enqueued: false, state: 'pending' });
        assert.deepEqual(await mustGet(store, 'CALL-1'), first, 'payload, recording and source of the second enqueue are ignored');
      }));

      test('a delivered, dead or leased item is left as it is by a new enqueue', withStore(async ({ store }) => {
        await seed(store, ['D', 'X', 'L']);
        assert.equal((await store.lease({ limit: 3, leaseMs: LEASE_MS, owner: 'w' })).length, 3);
        await store.settle('w', [
          { callId: 'D', kind: 'delivered', status: 201 },
          { callId: 'X', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
        ]);
        const before = (await Promise.all(['D', 'X', 'L'].map((id) => mustGet(store, id)))).map(stable);
        assert.deepEqual(await store.enqueue(sampleItem('D', { marker: 'again' })), { callId: 'D', enqueued: false, state: 'delivered' });
        assert.deepEqual(await store.enqueue(sampleItem('X', { marker: 'again' })), { callId: 'X', enqueued: false, state: 'dead' });
        assert.deepEqual(await store.enqueue(sampleItem('L', { marker: 'again' })), { callId: 'L', enqueued: false, state: 'in_flight' });
        assert.deepEqual((await Promise.all(['D', 'X', 'L'].map((id) => mustGet(store, id)))).map(stable), before);
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

      test('concurrent enqueues of one callId store it once, and exactly one of them says it was new', withStore(async ({ store }) => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.enqueue(sampleItem('SAME', { marker: `m${i}` }))));
        assert.equal(results.filter((r) => r.enqueued).length, 1);
        assert.ok(results.every((r) => r.callId === 'SAME' && r.state === 'pending'));
        assert.equal((await store.counts()).pending, 1);
      }));
    });

    describe('lease', () => {
      test('respects the limit and makes items in_flight for the owner until now + leaseMs', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C', 'D', 'E']);
        const before = Date.now();
        const leased = await store.lease({ limit: 3, leaseMs: 5000, owner: 'w1' });
        const after = Date.now();
        assert.deepEqual(ids(leased), ['A', 'B', 'C'], 'oldest first');
        for (const item of leased) {
          assert.equal(item.state, 'in_flight');
          assert.equal(item.leaseOwner, 'w1');
          assert.ok(item.leaseUntil !== null && item.leaseUntil >= before + 5000 - TOL && item.leaseUntil <= after + 5000 + TOL, `leaseUntil ${item.leaseUntil}`);
          const stored = await mustGet(store, item.callId);
          assert.deepEqual(stable(stored), stable(item), 'what lease returns is what is stored');
          near(stored.leaseUntil, item.leaseUntil ?? 0, 'stored lease expiry');
        }
        const counts = await store.counts();
        assert.equal(counts.in_flight, 3);
        assert.equal(counts.pending, 2);
        assert.deepEqual(await store.lease({ limit: 0, leaseMs: 5000, owner: 'w1' }), []);
      }));

      test('leases only due items, earliest due first', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C', 'D']);
        await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w' });
        const t0 = Date.now();
        await store.settle('w', [
          { callId: 'A', kind: 'retry', nextAttemptAt: t0 + 450, status: 503, error: 'e' },
          { callId: 'B', kind: 'retry', nextAttemptAt: t0 + 150, status: 503, error: 'e' },
          { callId: 'C', kind: 'wait', nextAttemptAt: t0 + 300, status: 429, error: 'e' },
          { callId: 'D', kind: 'retry', nextAttemptAt: t0 + 60_000, status: 503, error: 'e' },
        ]);
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w' }), [], 'nothing is due yet');
        await sleep(t0 + 700 - Date.now());
        assert.deepEqual(ids(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w' })), ['B', 'C', 'A']);
      }));

      test('limit takes the earliest due items', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C']);
        await store.lease({ limit: 3, leaseMs: LEASE_MS, owner: 'w' });
        const t0 = Date.now();
        await store.settle('w', [
          { callId: 'A', kind: 'retry', nextAttemptAt: t0 + 300, status: null, error: 'e' },
          { callId: 'B', kind: 'retry', nextAttemptAt: t0 + 100, status: null, error: 'e' },
          { callId: 'C', kind: 'retry', nextAttemptAt: t0 + 200, status: null, error: 'e' },
        ]);
        await sleep(t0 + 500 - Date.now());
        assert.deepEqual(ids(await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w' })), ['B', 'C']);
      }));

      test('callIds restricts the lease to those items, or is refused where the store cannot pick', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C', 'D']);
        if (!store.capabilities.selectiveLease) {
          await assert.rejects(store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', callIds: ['B'] }), (err: Error & { code?: string }) => err.code === 'E_OUTBOX_UNSUPPORTED');
          assert.equal((await store.counts()).pending, 4, 'nothing leased');
          return;
        }
        const leased = await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', callIds: ['D', 'B', 'missing', 'B'] });
        assert.deepEqual(ids(leased).sort(), ['B', 'D']);
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w', callIds: [] }), []);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w', callIds: ['A', 'C'] })).length, 1);
        assert.equal((await store.counts()).pending, 1);
      }));

      test('two owners never lease the same item', withStore(async ({ store }) => {
        const all = Array.from({ length: 10 }, (_, i) => `C${i}`);
        await seed(store, all);
        const a = await store.lease({ limit: 3, leaseMs: LEASE_MS, owner: 'a' });
        const b = await store.lease({ limit: 100, leaseMs: LEASE_MS, owner: 'b' });
        assert.equal(a.length, 3);
        assert.equal(b.length, 7);
        assert.deepEqual([...ids(a), ...ids(b)].sort(), [...all].sort());
        assert.deepEqual(await store.lease({ limit: 100, leaseMs: LEASE_MS, owner: 'c' }), []);
      }));

      test('concurrent leases are disjoint', withStore(async ({ store }) => {
        const all = Array.from({ length: 20 }, (_, i) => `C${i}`);
        await seed(store, all);
        const batches = await Promise.all(
          ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((owner) => store.lease({ limit: 3, leaseMs: LEASE_MS, owner })),
        );
        const leased = batches.flatMap(ids);
        assert.equal(new Set(leased).size, leased.length, 'no item in two leases');
        assert.equal(leased.length, 20);
      }));

      test('an expired lease goes back into circulation; a live one does not', withStore(async (fixture) => {
        const { store } = fixture;
        await seed(store, ['A']);
        const t0 = Date.now();
        await store.lease({ limit: 1, leaseMs: SHORT_LEASE_MS, owner: 'old' });
        assert.deepEqual(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'new' }), [], 'the lease is live');
        const taken = await leaseWhenBack(store, 'new', backWithin(fixture, SHORT_LEASE_MS));
        assert.ok(Date.now() - t0 >= SHORT_LEASE_MS - TOL, 'not before the lease expired');
        assert.deepEqual(ids(taken), ['A']);
        assert.equal(taken[0]?.leaseOwner, 'new');
        assert.equal(taken[0]?.attempts, 0, 'an expired lease is not an attempt');
      }));
    });

    describe('settle', () => {
      test('retry: attempts + 1, back to pending at nextAttemptAt, with status and error', withStore(async ({ store }) => {
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        const due = Date.now() + 300;
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: due, status: 503, error: 'HTTP 503' }]);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'pending');
        assert.equal(a.attempts, 1);
        assert.equal(a.rateLimitWaits, 0);
        near(a.nextAttemptAt, due, 'nextAttemptAt');
        assert.equal(a.lastStatus, 503);
        assert.equal(a.lastError, 'HTTP 503');
        assert.equal(a.leaseOwner, null);
        assert.equal(a.leaseUntil, null);
        assert.equal(a.deliveredAt, null);
        assert.deepEqual(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' }), [], 'not due before nextAttemptAt');
        const back = await leaseWhenBack(store, 'w', 3_000);
        assert.ok(Date.now() >= due - TOL, 'leased again only once due');
        assert.deepEqual(ids(back), ['A']);
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now() + 60_000, status: null, error: 'ECONNRESET' }]);
        const again = await mustGet(store, 'A');
        assert.equal(again.attempts, 2);
        assert.equal(again.lastStatus, null, 'a network error has no status');
        assert.equal(again.lastError, 'ECONNRESET');
      }));

      test('wait: rateLimitWaits + 1, attempts unchanged', withStore(async ({ store }) => {
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 500, error: 'e' }]);
        assert.deepEqual(ids(await leaseWhenBack(store, 'w', 3_000)), ['A']);
        const due = Date.now() + 60_000;
        await store.settle('w', [{ callId: 'A', kind: 'wait', nextAttemptAt: due, status: 429, error: 'Retry-After 60' }]);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'pending');
        assert.equal(a.attempts, 1);
        assert.equal(a.rateLimitWaits, 1);
        near(a.nextAttemptAt, due, 'nextAttemptAt');
        assert.equal(a.lastStatus, 429);
        assert.equal(a.lastError, 'Retry-After 60');
        assert.equal(a.leaseOwner, null);
      }));

      test('dead: final, attempts + 1 only when countAttempt', withStore(async ({ store }) => {
        await seed(store, ['A', 'B']);
        await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w' });
        await store.settle('w', [
          { callId: 'A', kind: 'dead', status: 400, error: 'missing field campaignId', countAttempt: true },
          { callId: 'B', kind: 'dead', status: null, error: 'invalid payload', countAttempt: false },
        ]);
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
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w' }), [], 'dead is never leased');
      }));

      test('delivered: final, deliveredAt = now, attempts + 1, last error cleared', withStore(async ({ store }) => {
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 502, error: 'bad gateway' }]);
        assert.deepEqual(ids(await leaseWhenBack(store, 'w', 3_000)), ['A']);
        const before = Date.now();
        await store.settle('w', [{ callId: 'A', kind: 'delivered', status: 201 }]);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'delivered');
        assert.ok(a.deliveredAt !== null && a.deliveredAt >= before - TOL && a.deliveredAt <= Date.now() + TOL);
        assert.equal(a.attempts, 2);
        assert.equal(a.lastStatus, 201);
        assert.equal(a.lastError, null);
        assert.equal(a.leaseOwner, null);
        assert.equal(a.leaseUntil, null);
        assert.deepEqual(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w' }), [], 'delivered is never leased');
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 500, error: 'late' }]);
        assert.deepEqual(stable(await mustGet(store, 'A')), stable(a), 'a settle after delivered changes nothing');
      }));

      test('a batch mixes kinds in one call; an empty batch is fine', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C', 'D']);
        await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w' });
        await store.settle('w', [
          { callId: 'A', kind: 'delivered', status: 200 },
          { callId: 'B', kind: 'retry', nextAttemptAt: Date.now() + 60_000, status: 504, error: 'timeout' },
          { callId: 'C', kind: 'wait', nextAttemptAt: Date.now() + 60_000, status: 429, error: 'rate' },
          { callId: 'D', kind: 'dead', status: 422, error: 'bad', countAttempt: true },
        ]);
        const states = await store.states(['A', 'B', 'C', 'D']);
        assert.deepEqual(Object.fromEntries(states), { A: 'delivered', B: 'pending', C: 'pending', D: 'dead' });
        await store.settle('w', []);
      }));

      test('only the lease holder can record a failure', withStore(async ({ store }) => {
        await seed(store, ['A', 'B']);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' })), ['A']);
        const before = (await Promise.all([mustGet(store, 'A'), mustGet(store, 'B')])).map(stable);
        await store.settle('intruder', [
          { callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 500, error: 'x', log: [logEntry('call-data', 500, 'retry')] },
          { callId: 'A', kind: 'dead', status: 400, error: 'x', countAttempt: true },
          { callId: 'B', kind: 'wait', nextAttemptAt: Date.now(), status: 429, error: 'not leased at all' },
        ]);
        await store.release('intruder', ['A']);
        assert.deepEqual((await Promise.all([mustGet(store, 'A'), mustGet(store, 'B')])).map(stable), before);
        assert.deepEqual(await store.history('A'), [], 'a refused settlement leaves no history');
      }));

      test('after a takeover the stale owner cannot overwrite the new owner, but its delivered counts', withStore(async (fixture) => {
        const { store } = fixture;
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: SHORT_LEASE_MS, owner: 'old' });
        assert.deepEqual(ids(await leaseWhenBack(store, 'new', backWithin(fixture, SHORT_LEASE_MS))), ['A']);
        const held = stable(await mustGet(store, 'A'));
        assert.equal(held.leaseOwner, 'new');
        await store.settle('old', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 503, error: 'stale' }]);
        await store.settle('old', [{ callId: 'A', kind: 'wait', nextAttemptAt: Date.now(), status: 429, error: 'stale' }]);
        await store.settle('old', [{ callId: 'A', kind: 'dead', status: 400, error: 'stale', countAttempt: true }]);
        await store.release('old', ['A']);
        assert.deepEqual(stable(await mustGet(store, 'A')), held, 'the new owner keeps the item');
        // The old owner's POST got a 2xx: the CRM has the call, so it is delivered whoever says so.
        const before = Date.now();
        await store.settle('old', [{ callId: 'A', kind: 'delivered', status: 201 }]);
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'delivered');
        assert.ok(a.deliveredAt !== null && a.deliveredAt >= before - TOL);
        // The new owner's own outcome then cannot undo it.
        await store.settle('new', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 500, error: 'late' }]);
        assert.deepEqual(stable(await mustGet(store, 'A')), stable(a));
      }));

      test('a stale delivered does not resurrect a dead item', withStore(async (fixture) => {
        const { store } = fixture;
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: SHORT_LEASE_MS, owner: 'old' });
        assert.deepEqual(ids(await leaseWhenBack(store, 'new', backWithin(fixture, SHORT_LEASE_MS))), ['A']);
        await store.settle('new', [{ callId: 'A', kind: 'dead', status: 400, error: 'rejected', countAttempt: true }]);
        const dead = stable(await mustGet(store, 'A'));
        await store.settle('old', [{ callId: 'A', kind: 'delivered', status: 201 }]);
        assert.deepEqual(stable(await mustGet(store, 'A')), dead);
      }));

      test('the log of an applied settlement is the item’s history, in order', withStore(async ({ store }) => {
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        const first: AttemptLogEntry[] = [logEntry('recording', 200, 'uploaded', 1), logEntry('call-data', 503, 'retry', 1, 'HTTP 503')];
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 503, error: 'HTTP 503', log: first }]);
        assert.deepEqual(ids(await leaseWhenBack(store, 'w', 3_000)), ['A']);
        const second = [logEntry('call-data', 201, 'delivered', 2)];
        await store.settle('w', [{ callId: 'A', kind: 'delivered', status: 201, log: second }]);
        assert.deepEqual(await store.history('A'), [...first, ...second]);
      }));
    });

    describe('settleAndLease', () => {
      test('applies the settlements first, then leases, and returns what it leased', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C', 'D']);
        assert.deepEqual(ids(await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w' })), ['A', 'B']);
        const before = Date.now();
        const leased = await store.settleAndLease('w', [
          { callId: 'A', kind: 'delivered', status: 201 },
          // Due at once: only a lease that runs after the settlements can take it back.
          { callId: 'B', kind: 'retry', nextAttemptAt: Date.now(), status: 503, error: 'busy' },
        ], { limit: 10, leaseMs: 5000 });
        assert.deepEqual(ids(leased), ['C', 'D', 'B'], 'every due item, earliest due first');
        const a = await mustGet(store, 'A');
        assert.equal(a.state, 'delivered');
        assert.ok(a.deliveredAt !== null && a.deliveredAt >= before - TOL);
        const b = await mustGet(store, 'B');
        assert.deepEqual(
          { state: b.state, attempts: b.attempts, lastStatus: b.lastStatus, lastError: b.lastError, leaseOwner: b.leaseOwner },
          { state: 'in_flight', attempts: 1, lastStatus: 503, lastError: 'busy', leaseOwner: 'w' },
        );
        for (const item of leased) assert.deepEqual(stable(await mustGet(store, item.callId)), stable(item), 'what it returns is what is stored');
      }));

      test('has the guards of settle: a stranger’s failure changes nothing, a delivered counts, final stays final', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'D', 'X']);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'other' })), ['A']);
        assert.deepEqual(ids(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w' })), ['B', 'D', 'X']);
        await store.settle('w', [
          { callId: 'D', kind: 'delivered', status: 201 },
          { callId: 'X', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
        ]);
        const before = (await Promise.all(['A', 'D', 'X'].map((id) => mustGet(store, id)))).map(stable);
        const leased = await store.settleAndLease('intruder', [
          { callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 500, error: 'not mine' },
          { callId: 'A', kind: 'dead', status: 400, error: 'not mine', countAttempt: true },
          { callId: 'D', kind: 'retry', nextAttemptAt: Date.now(), status: 500, error: 'after delivered' },
          { callId: 'X', kind: 'delivered', status: 201 },
          // B's lease belongs to 'w', but a 2xx is a fact whoever reports it: the delivered applies.
          { callId: 'B', kind: 'delivered', status: 201 },
        ], { limit: 10, leaseMs: LEASE_MS });
        assert.deepEqual(leased, [], 'nothing was made due');
        assert.deepEqual((await Promise.all(['A', 'D', 'X'].map((id) => mustGet(store, id)))).map(stable), before);
        assert.equal((await mustGet(store, 'B')).state, 'delivered');
      }));

      test('a malformed settlement or bad lease options reject before anything is written', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C']);
        await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w' });
        const before = (await Promise.all(['A', 'B', 'C'].map((id) => mustGet(store, id)))).map(stable);
        const broken = { callId: 'B', kind: 'lost', status: null } as unknown as Settlement;
        await assert.rejects(store.settleAndLease('w', [{ callId: 'A', kind: 'delivered', status: 201 }, broken], { limit: 10, leaseMs: LEASE_MS }));
        await assert.rejects(store.settle('w', [{ callId: 'A', kind: 'delivered', status: 201 }, broken]));
        await assert.rejects(store.settleAndLease('w', [{ callId: 'A', kind: 'delivered', status: 201 }], { limit: -1, leaseMs: LEASE_MS }));
        await assert.rejects(store.settleAndLease('', [{ callId: 'A', kind: 'delivered', status: 201 }], { limit: 1, leaseMs: LEASE_MS }));
        assert.deepEqual((await Promise.all(['A', 'B', 'C'].map((id) => mustGet(store, id)))).map(stable), before);
      }));

      test('without settlements it is lease; with limit 0 it is settle', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C']);
        assert.deepEqual(ids(await store.settleAndLease('w', [], { limit: 1, leaseMs: LEASE_MS })), ['A']);
        assert.deepEqual(await store.settleAndLease('w', [{ callId: 'A', kind: 'delivered', status: 201 }], { limit: 0, leaseMs: LEASE_MS }), []);
        assert.deepEqual(Object.fromEntries(await store.states(['A', 'B', 'C'])), { A: 'delivered', B: 'pending', C: 'pending' });
        assert.deepEqual(await store.settleAndLease('w', [], { limit: 0, leaseMs: LEASE_MS }), []);
      }));

      test('concurrent calls of two owners lease disjoint items', withStore(async ({ store }) => {
        const all = Array.from({ length: 12 }, (_, i) => `C${i}`);
        await seed(store, all);
        const first = await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'a' });
        const [a, b] = await Promise.all([
          store.settleAndLease('a', delivered(first), { limit: 5, leaseMs: LEASE_MS }),
          store.settleAndLease('b', [], { limit: 5, leaseMs: LEASE_MS }),
        ]);
        const leased = [...ids(a), ...ids(b)];
        assert.equal(new Set(leased).size, 8, 'no item in two leases, none of the delivered ones');
        assert.ok(leased.every((id) => !ids(first).includes(id)));
        assert.equal((await store.counts()).delivered, 4);
      }));
    });

    describe('release', () => {
      test('gives the owner’s items back: pending, due now, attempts unchanged', withStore(async ({ store }) => {
        await seed(store, ['A', 'B', 'C']);
        assert.deepEqual(ids(await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w' })), ['A', 'B']);
        await store.release('w', ['A', 'B', 'C', 'missing']);
        for (const id of ['A', 'B']) {
          const item = await mustGet(store, id);
          assert.equal(item.state, 'pending');
          assert.equal(item.attempts, 0);
          assert.equal(item.leaseOwner, null);
          assert.equal(item.leaseUntil, null);
          assert.ok(item.nextAttemptAt <= Date.now() + TOL, 'due now');
        }
        assert.equal((await mustGet(store, 'C')).state, 'pending');
        const again = await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'other' });
        assert.deepEqual(ids(again).sort(), ['A', 'B', 'C']);
        await store.release('other', []);
      }));
    });

    describe('uncertain attempts (docs/architecture.md, "Delivery" → "Uncertain attempts")', () => {
      test('a new item is certain; a settlement sets the flag, clears it, or (absent) leaves it; delivered clears it', withStore(async ({ store }) => {
        await seed(store, ['A']);
        assert.equal((await mustGet(store, 'A')).uncertain, false);
        let [a] = await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        assert.equal(a?.uncertain, false);
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: null, error: 'timeout', uncertain: true }]);
        assert.equal((await mustGet(store, 'A')).uncertain, true);
        [a] = await leaseWhenBack(store, 'w', 3_000);
        assert.equal(a?.callId, 'A');
        assert.equal(a?.uncertain, true, 'the lease hands the flag to the worker');
        // A failure that says nothing about it (an internal error) leaves the flag as it was.
        await store.settle('w', [{ callId: 'A', kind: 'wait', nextAttemptAt: Date.now(), status: 429, error: 'HTTP 429' }]);
        assert.equal((await mustGet(store, 'A')).uncertain, true);
        [a] = await leaseWhenBack(store, 'w', 3_000);
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 503, error: 'HTTP 503', uncertain: false }]);
        assert.equal((await mustGet(store, 'A')).uncertain, false, 'verified absent, then a certain failure');
        [a] = await leaseWhenBack(store, 'w', 3_000);
        await store.settle('w', [{ callId: 'A', kind: 'dead', status: null, error: 'gave up', countAttempt: true, uncertain: true }]);
        assert.equal((await mustGet(store, 'A')).uncertain, true, 'a dead item keeps it, for replay');
        await seed(store, ['B']);
        const [b] = await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        assert.equal(b?.callId, 'B');
        await store.settle('w', [{ callId: 'B', kind: 'retry', nextAttemptAt: Date.now(), status: null, error: 'timeout', uncertain: true }]);
        await leaseWhenBack(store, 'w', 3_000);
        await store.settle('w', [{ callId: 'B', kind: 'delivered', status: 201 }]);
        assert.equal((await mustGet(store, 'B')).uncertain, false);
      }));

      test('the history keeps each entry’s flag, and the verify step', withStore(async ({ store }) => {
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        const first: AttemptLogEntry[] = [{ ...logEntry('call-data', null, 'retry', 1, 'timeout'), uncertain: true }];
        await store.settle('w', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: null, error: 'timeout', uncertain: true, log: first }]);
        await leaseWhenBack(store, 'w', 3_000);
        const second: AttemptLogEntry[] = [{ ...logEntry('verify', 200, 'delivered', 2), uncertain: false }];
        await store.settle('w', [{ callId: 'A', kind: 'delivered', status: null, log: second }]);
        assert.deepEqual(await store.history('A'), [...first, ...second]);
      }));

      test('an item taken over from an expired lease is uncertain (its holder may have sent it)', withStore(async (fixture) => {
        const { store } = fixture;
        await seed(store, ['A']);
        await store.lease({ limit: 1, leaseMs: SHORT_LEASE_MS, owner: 'old' });
        const taken = await leaseWhenBack(store, 'new', backWithin(fixture, SHORT_LEASE_MS));
        assert.deepEqual(ids(taken), ['A']);
        assert.equal(taken[0]?.uncertain, true);
        // The new holder's certain failure after a verified absence clears it.
        await store.settle('new', [{ callId: 'A', kind: 'retry', nextAttemptAt: Date.now(), status: 503, error: 'HTTP 503', uncertain: false }]);
        assert.equal((await mustGet(store, 'A')).uncertain, false);
        const again = await leaseWhenBack(store, 'new', 3_000);
        assert.equal(again[0]?.uncertain, false);
      }));

      test('release marks only the items named uncertain; the others keep their flag', withStore(async ({ store }) => {
        await seed(store, ['A', 'B']);
        await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w' });
        await store.release('w', ['A', 'B'], { uncertain: ['A'] });
        assert.equal((await mustGet(store, 'A')).uncertain, true);
        assert.equal((await mustGet(store, 'B')).uncertain, false);
        const back = await store.lease({ limit: 2, leaseMs: LEASE_MS, owner: 'w' });
        assert.deepEqual(back.map((i) => [i.callId, i.uncertain]).sort(), [['A', true], ['B', false]]);
        await store.release('w', ['A', 'B']);
        assert.equal((await mustGet(store, 'A')).uncertain, true, 'a plain release leaves it');
      }));
    });

    describe('checkpointRecording', () => {
      test('stores only the given fields and leaves state and lease alone', withStore(async ({ store }) => {
        await store.enqueue(sampleItem('A', { recordingPath: '/rec/a.ogg' }));
        await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' });
        await store.checkpointRecording('A', { url: 'https://crm.example/rec/a.ogg' });
        await store.checkpointRecording('A', { size: 123_456, duration: 95 });
        let a = await mustGet(store, 'A');
        assert.deepEqual(a.recording, { path: '/rec/a.ogg', url: 'https://crm.example/rec/a.ogg', size: 123_456, duration: 95, note: null });
        assert.equal(a.state, 'in_flight');
        assert.equal(a.leaseOwner, 'w');
        await store.checkpointRecording('A', { url: null, note: 'recording still growing after 120s; sent without it' });
        a = await mustGet(store, 'A');
        assert.deepEqual(a.recording, { path: '/rec/a.ogg', url: null, size: 123_456, duration: 95, note: 'recording still growing after 120s; sent without it' });
        assert.equal(a.state, 'in_flight');
        // The lease still belongs to w: its outcome is recorded.
        await store.settle('w', [{ callId: 'A', kind: 'delivered', status: 201 }]);
        assert.equal((await mustGet(store, 'A')).state, 'delivered');
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

    describe('replay and requeue', () => {
      test('replay puts chosen dead items back to pending, due now, attempts and waits reset', withStore(async ({ store }) => {
        await seed(store, ['D1', 'D2', 'D3', 'P']);
        await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w' });
        await store.settle('w', [
          { callId: 'D1', kind: 'wait', nextAttemptAt: Date.now(), status: 429, error: 'r' },
          { callId: 'P', kind: 'retry', nextAttemptAt: Date.now() + 600_000, status: 500, error: 'later' },
        ]);
        assert.deepEqual(ids(await leaseWhenBack(store, 'w', 3_000)), ['D1']);
        await store.settle('w', [
          { callId: 'D1', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
          { callId: 'D2', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
          { callId: 'D3', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
        ]);
        const pendingBefore = stable(await mustGet(store, 'P'));
        assert.equal(await store.replay(['D1', 'P', 'missing']), 1);
        const d1 = await mustGet(store, 'D1');
        assert.equal(d1.state, 'pending');
        assert.equal(d1.attempts, 0);
        assert.equal(d1.rateLimitWaits, 0);
        assert.ok(d1.nextAttemptAt <= Date.now() + TOL);
        assert.equal(d1.leaseOwner, null);
        assert.deepEqual(stable(await mustGet(store, 'P')), pendingBefore, 'a pending item is not touched');
        assert.equal(await store.replay([]), 0);
        assert.equal(await store.replay('all'), 2);
        assert.equal(await store.replay('all'), 0);
        const counts = await store.counts();
        assert.equal(counts.dead, 0);
        assert.equal(counts.pending, 4);
        const leased = await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w' });
        assert.deepEqual(ids(leased).sort(), ['D1', 'D2', 'D3']);
      }));

      test('requeue puts delivered items back to pending, keeps their recording, and touches nothing else', withStore(async ({ store }) => {
        await store.enqueue(sampleItem('R', { recordingPath: '/rec/r.ogg' }));
        await seed(store, ['K', 'X', 'P']);
        await store.checkpointRecording('R', { url: 'https://crm.example/r', size: 7, duration: 1 });
        await store.lease({ limit: 3, leaseMs: LEASE_MS, owner: 'w' });
        await store.settle('w', [
          { callId: 'R', kind: 'delivered', status: 201 },
          { callId: 'K', kind: 'delivered', status: 201 },
          { callId: 'X', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
        ]);
        const untouched = (await Promise.all(['K', 'X', 'P'].map((id) => mustGet(store, id)))).map(stable);
        assert.equal(await store.requeue(['R', 'X', 'P', 'missing']), 1);
        const r = await mustGet(store, 'R');
        assert.deepEqual(
          { state: r.state, attempts: r.attempts, rateLimitWaits: r.rateLimitWaits, deliveredAt: r.deliveredAt, leaseOwner: r.leaseOwner },
          { state: 'pending', attempts: 0, rateLimitWaits: 0, deliveredAt: null, leaseOwner: null },
        );
        assert.ok(r.nextAttemptAt <= Date.now() + TOL, 'due now');
        assert.deepEqual(r.recording, { path: '/rec/r.ogg', url: 'https://crm.example/r', size: 7, duration: 1, note: null });
        assert.deepEqual((await Promise.all(['K', 'X', 'P'].map((id) => mustGet(store, id)))).map(stable), untouched);
        assert.equal(await store.requeue([]), 0);
        assert.deepEqual(ids(await store.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w' })).sort(), ['P', 'R']);
      }));
    });

    describe('purge (docs/architecture.md, "Stores" → "Retention")', () => {
      test('removes delivered items delivered before the cut, dead ones only with dead, never the others; a dry run only counts', withStore(async ({ store }) => {
        await store.enqueue(sampleItem('OLD1'));
        await store.enqueue(sampleItem('OLD2', { recordingPath: '/rec/old2.ogg' }));
        await seed(store, ['NEW']);
        await store.enqueue(sampleItem('DEAD', { recordingPath: '/rec/dead.ogg' }));
        await seed(store, ['P', 'F']);
        assert.equal((await store.lease({ limit: 6, leaseMs: LEASE_MS, owner: 'w' })).length, 6);
        await store.settle('w', [
          { callId: 'OLD1', kind: 'delivered', status: 201, log: [logEntry('call-data', 201, 'delivered')] },
          { callId: 'OLD2', kind: 'delivered', status: 201, log: [logEntry('call-data', 201, 'delivered')] },
        ]);
        await sleep(150);
        const cut = Date.now();
        await sleep(150);
        await store.settle('w', [
          { callId: 'NEW', kind: 'delivered', status: 201 },
          { callId: 'DEAD', kind: 'dead', status: 400, error: 'bad', countAttempt: true, log: [logEntry('call-data', 400, 'dead')] },
          { callId: 'P', kind: 'retry', nextAttemptAt: Date.now() + 600_000, status: 503, error: 'later' },
        ]);
        const others = async (): Promise<unknown[]> => (await Promise.all(['NEW', 'P', 'F'].map((id) => mustGet(store, id)))).map(stable);
        const before = await others();
        const byState = async (): Promise<number[]> => store.counts().then((c) => [c.pending, c.in_flight, c.delivered, c.dead]);
        const countsBefore = await byState();

        assert.deepEqual(await store.purge({ deliveredBefore: cut, dead: true, dryRun: true }), { delivered: 2, dead: 1, recordingPaths: [] });
        assert.deepEqual(await byState(), countsBefore, 'a dry run removes nothing');

        assert.deepEqual(await store.purge({ deliveredBefore: cut }), { delivered: 2, dead: 0, recordingPaths: ['/rec/old2.ogg'] });
        assert.equal(await store.get('OLD1'), null);
        assert.equal(await store.get('OLD2'), null);
        assert.deepEqual(await store.history('OLD1'), [], 'the history goes with the item');
        assert.deepEqual(await others(), before, 'the newer delivered, the pending and the leased items are untouched');
        assert.equal((await mustGet(store, 'DEAD')).state, 'dead', 'dead items stay without dead');
        assert.deepEqual(await byState(), [1, 1, 1, 1]);
        assert.deepEqual((await store.listDeliveredByTime({ from: 0 })).map((d) => d.callId), ['NEW']);
        assert.deepEqual(ids(await store.listDelivered()), ['NEW']);
        assert.deepEqual((await store.states(['OLD1', 'OLD2', 'NEW'])).size, 1);
        assert.deepEqual(await store.purge({ deliveredBefore: cut }), { delivered: 0, dead: 0, recordingPaths: [] }, 'nothing left to remove');

        assert.deepEqual(await store.purge({ dead: true }), { delivered: 0, dead: 1, recordingPaths: ['/rec/dead.ogg'] });
        assert.equal(await store.get('DEAD'), null);
        assert.deepEqual(await store.history('DEAD'), []);
        assert.deepEqual(await others(), before);
        assert.deepEqual(await byState(), [1, 1, 1, 0]);

        assert.deepEqual(await store.enqueue(sampleItem('OLD1')), { callId: 'OLD1', enqueued: true, state: 'pending' }, 'a purged callId is a new item');
        assert.deepEqual(await store.purge({}), { delivered: 0, dead: 0, recordingPaths: [] }, 'no cut and no dead: nothing');
      }));

      test('limit takes the oldest deliveries first, a batch at a time; bad options reject', withStore(async ({ store }) => {
        const all = ['A', 'B', 'C', 'D', 'E'];
        await seed(store, all);
        await store.lease({ limit: 5, leaseMs: LEASE_MS, owner: 'w' });
        // Delivered in an order unlike their enqueue order, a few ms apart.
        for (const id of ['C', 'A', 'E', 'B', 'D']) {
          await store.settle('w', [{ callId: id, kind: 'delivered', status: 201 }]);
          await sleep(5);
        }
        await sleep(50);
        const cut = Date.now();
        assert.deepEqual(await store.purge({ deliveredBefore: cut, dryRun: true, limit: 2 }), { delivered: 2, dead: 0, recordingPaths: [] });
        assert.equal((await store.purge({ deliveredBefore: cut, limit: 2 })).delivered, 2);
        assert.deepEqual([...(await store.states(all)).keys()].sort(), ['B', 'D', 'E']);
        assert.equal((await store.purge({ deliveredBefore: cut, limit: 2 })).delivered, 2);
        assert.deepEqual([...(await store.states(all)).keys()], ['D']);
        assert.equal((await store.purge({ deliveredBefore: cut, limit: 2 })).delivered, 1);
        assert.equal((await store.counts()).delivered, 0);
        await assert.rejects(store.purge({ dead: true, limit: 0 }), TypeError);
        await assert.rejects(store.purge({ deliveredBefore: Number.NaN }), TypeError);
      }));
    });

    describe('queries', () => {
      test('counts by state, the earliest due time and the backlog’s age', withStore(async ({ store }) => {
        assert.deepEqual(await store.counts(), { pending: 0, in_flight: 0, delivered: 0, dead: 0, nextAttemptAt: null, oldestPendingAt: null });
        for (const id of ['A', 'B', 'C', 'D', 'E', 'F']) {
          await store.enqueue(sampleItem(id));
          await sleep(2); // distinct creation times, so "the oldest" has one answer
        }
        const created = async (id: string): Promise<number> => (await mustGet(store, id)).createdAt;
        assert.equal((await store.counts()).oldestPendingAt, await created('A'));
        await store.lease({ limit: 6, leaseMs: LEASE_MS, owner: 'w' });
        const t0 = Date.now();
        await store.settle('w', [
          { callId: 'A', kind: 'delivered', status: 201 },
          { callId: 'B', kind: 'dead', status: 400, error: 'x', countAttempt: true },
          { callId: 'D', kind: 'retry', nextAttemptAt: t0 + 50_000, status: 503, error: 'x' },
          { callId: 'E', kind: 'wait', nextAttemptAt: t0 + 20_000, status: 429, error: 'x' },
          { callId: 'F', kind: 'delivered', status: 201 },
        ]);
        const counts = await store.counts();
        assert.deepEqual({ ...counts, nextAttemptAt: 0 }, { pending: 2, in_flight: 1, delivered: 2, dead: 1, nextAttemptAt: 0, oldestPendingAt: await created('C') });
        near(counts.nextAttemptAt, t0 + 20_000, 'the earliest retry');
        // C was in flight; once delivered, the oldest open item is D, which waits for its retry.
        await store.settle('w', [{ callId: 'C', kind: 'delivered', status: 201 }]);
        assert.equal((await store.counts()).oldestPendingAt, await created('D'));
      }));

      test('nextAttemptAt and nextDueAt: the earliest pending due time or lease expiry', withStore(async ({ store }) => {
        assert.equal(await store.nextDueAt(), null);
        await seed(store, ['A', 'B', 'C']);
        // A crashed process holds A; B waits for a retry; C is due now.
        const t0 = Date.now();
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: 30_000, owner: 'crashed' })), ['A']);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' })), ['B']);
        await store.settle('w', [{ callId: 'B', kind: 'retry', nextAttemptAt: t0 + 50_000, status: 503, error: 'x' }]);
        assert.ok(((await store.counts()).nextAttemptAt ?? Infinity) <= Date.now() + TOL, 'C is due now');
        assert.ok(((await store.nextDueAt()) ?? Infinity) <= Date.now() + TOL);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' })), ['C']);
        await store.settle('w', [{ callId: 'C', kind: 'delivered', status: 201 }]);
        // The crashed lease expires before B's retry: a waiting run must wake up then.
        near((await store.counts()).nextAttemptAt, t0 + 30_000, 'the crashed lease');
        near(await store.nextDueAt(), t0 + 30_000, 'the crashed lease');
        near(await store.nextDueAt({ callIds: ['B', 'C', 'missing'] }), t0 + 50_000, 'restricted to callIds');
        assert.equal(await store.nextDueAt({ callIds: ['C'] }), null, 'C is final');
        assert.equal(await store.nextDueAt({ callIds: [] }), null);
        const many = Array.from({ length: 1203 }, (_, i) => `M${i}`);
        near(await store.nextDueAt({ callIds: [...many, 'B'] }), t0 + 50_000, 'long lists too');
      }));

      test('list gives one state, oldest first, with limit and offset', withStore(async ({ store }) => {
        for (const id of ['A', 'B', 'C', 'D', 'E']) {
          await store.enqueue(sampleItem(id));
          await sleep(2); // distinct creation times, so "oldest first" has one answer
        }
        assert.deepEqual(ids(await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w' })), ['A', 'B', 'C', 'D']);
        await store.settle('w', [
          { callId: 'D', kind: 'dead', status: 400, error: 'x', countAttempt: true },
          { callId: 'B', kind: 'dead', status: 400, error: 'y', countAttempt: true },
        ]);
        await store.release('w', ['A', 'C']);
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' })), ['A']);
        assert.deepEqual(ids(await store.list({ state: 'pending' })), ['C', 'E']);
        assert.deepEqual(ids(await store.list({ state: 'in_flight' })), ['A']);
        assert.deepEqual(ids(await store.list({ state: 'delivered' })), []);
        const dead = await store.list({ state: 'dead' });
        assert.deepEqual(ids(dead), ['B', 'D']);
        assert.equal(dead[0]?.lastError, 'y');
        assert.deepEqual(dead[0]?.payload, sampleItem('B').payload);
        assert.deepEqual(ids(await store.list({ state: 'pending', limit: 1 })), ['C']);
        assert.deepEqual(ids(await store.list({ state: 'pending', limit: 1, offset: 1 })), ['E']);
        assert.deepEqual(ids(await store.list({ state: 'pending', offset: 2 })), []);
      }));

      test('listDelivered pages through delivered calls by their start time, within a range', withStore(async ({ store }) => {
        const starts: Record<string, string> = {
          A: '2025-10-29T10:00:00.000Z',
          B: '2025-10-27T08:00:00.000Z',
          C: '2025-10-28T09:30:00.000Z',
          D: '2025-10-30T23:59:59.000Z',
          P: '2025-10-28T12:00:00.000Z',
        };
        for (const [id, startTime] of Object.entries(starts)) await store.enqueue(sampleItem(id, { startTime }));
        assert.equal((await store.lease({ limit: 4, leaseMs: LEASE_MS, owner: 'w' })).length, 4);
        await store.settle('w', delivered((await store.list({ state: 'in_flight' })).filter((i) => i.callId !== 'P')));
        assert.deepEqual(ids(await store.listDelivered()), ['B', 'C', 'A', 'D'], 'earliest call first, the pending one left out');
        const range = { startFrom: Date.parse('2025-10-28T00:00:00Z'), startTo: Date.parse('2025-10-29T10:00:00Z') };
        assert.deepEqual(ids(await store.listDelivered(range)), ['C', 'A'], 'both ends included');
        assert.deepEqual(ids(await store.listDelivered({ ...range, limit: 1 })), ['C']);
        assert.deepEqual(ids(await store.listDelivered({ ...range, limit: 1, offset: 1 })), ['A']);
        assert.deepEqual(ids(await store.listDelivered({ startFrom: Date.parse('2025-10-31T00:00:00Z') })), []);
        await store.requeue(['C']);
        assert.deepEqual(ids(await store.listDelivered(range)), ['A'], 'a requeued call is no longer delivered');
      }));

      test('listDeliveredByTime lists delivered calls by when they were delivered, not when they started', withStore(async ({ store }) => {
        // Two calls of a backfill (started months ago) and a fresh one; one stays pending, one goes dead.
        const starts: Record<string, string> = {
          OLD1: '2025-06-01T10:00:00.000Z',
          OLD2: '2025-05-01T10:00:00.000Z',
          NEW: new Date(Date.now() - 60_000).toISOString(),
          P: '2025-05-15T10:00:00.000Z',
          X: '2025-05-20T10:00:00.000Z',
        };
        for (const [id, startTime] of Object.entries(starts)) await store.enqueue(sampleItem(id, { startTime }));
        const before = Date.now();
        assert.equal((await store.lease({ limit: 5, leaseMs: LEASE_MS, owner: 'w' })).length, 5);
        // Delivered one at a time, a few ms apart, in an order unlike their start times.
        for (const id of ['NEW', 'OLD2', 'OLD1']) {
          await store.settle('w', [{ callId: id, kind: 'delivered', status: 201 }]);
          await sleep(5);
        }
        await store.settle('w', [{ callId: 'X', kind: 'dead', status: 400, error: 'no', countAttempt: true }]);

        const all = await store.listDeliveredByTime({ from: before - TOL });
        assert.deepEqual(all.map((d) => d.callId), ['NEW', 'OLD2', 'OLD1'], 'by delivery, the pending and dead ones left out');
        for (const d of all) {
          const item = await mustGet(store, d.callId);
          assert.deepEqual(d, { callId: d.callId, createdAt: item.createdAt, deliveredAt: item.deliveredAt }, `${d.callId}: the item's own times`);
        }
        const [tNew, tOld2, tOld1] = all.map((d) => d.deliveredAt) as [number, number, number];
        assert.ok(tNew < tOld2 && tOld2 < tOld1, 'delivery times ascending');
        assert.deepEqual((await store.listDeliveredByTime({ from: tOld2, to: tOld2 })).map((d) => d.callId), ['OLD2'], 'both ends included');
        assert.deepEqual((await store.listDeliveredByTime({ from: tOld2 })).map((d) => d.callId), ['OLD2', 'OLD1']);
        assert.deepEqual((await store.listDeliveredByTime({ from: 0, to: tOld2 - 1 })).map((d) => d.callId), ['NEW']);
        assert.deepEqual((await store.listDeliveredByTime({ from: 0, limit: 2 })).map((d) => d.callId), ['NEW', 'OLD2']);
        assert.deepEqual((await store.listDeliveredByTime({ from: 0, limit: 2, offset: 2 })).map((d) => d.callId), ['OLD1']);
        assert.deepEqual(await store.listDeliveredByTime({ from: tOld1 + 1 }), []);
        await store.requeue(['OLD2']);
        assert.deepEqual((await store.listDeliveredByTime({ from: 0 })).map((d) => d.callId), ['NEW', 'OLD1'], 'a requeued call is no longer delivered');
      }));

      test('states maps known callIds and leaves unknown ones out, for long lists too', withStore(async ({ store }) => {
        const many = Array.from({ length: 1203 }, (_, i) => `CALL-${String(i).padStart(4, '0')}`);
        await store.enqueueMany(many.map((id) => sampleItem(id)));
        assert.deepEqual(ids(await store.lease({ limit: 1, leaseMs: LEASE_MS, owner: 'w' })), ['CALL-0000']);
        await store.settle('w', [{ callId: 'CALL-0000', kind: 'delivered', status: 200 }]);
        const states = await store.states([...many, 'nope']);
        assert.equal(states.size, 1203);
        assert.equal(states.get('CALL-0000'), 'delivered');
        assert.equal(states.get('CALL-1202'), 'pending');
        assert.equal(states.has('nope'), false);
        assert.equal((await store.states([])).size, 0);
      }));
    });

    describe('durability', () => {
      test('after a reopen every item and field is still there', withStore(async (fixture) => {
        if (!fixture.reopen) return;
        const { store } = fixture;
        await seed(store, ['A', 'B', 'C', 'D', 'E']);
        await store.enqueueMany([sampleItem('F', { recordingPath: '/rec/f.ogg' })]);
        assert.equal((await store.lease({ limit: 6, leaseMs: LEASE_MS, owner: 'w' })).length, 6);
        const t0 = Date.now();
        await store.settle('w', [
          { callId: 'A', kind: 'delivered', status: 201, log: [logEntry('call-data', 201, 'delivered')] },
          { callId: 'B', kind: 'dead', status: 400, error: 'bad', countAttempt: true },
          { callId: 'C', kind: 'retry', nextAttemptAt: t0 + 500, status: 503, error: 'x' },
          { callId: 'D', kind: 'wait', nextAttemptAt: t0 + 300, status: 429, error: 'y' },
        ]);
        await store.checkpointRecording('F', { url: 'https://crm.example/f', size: 5, duration: 1 });
        const all = ['A', 'B', 'C', 'D', 'E', 'F'];
        const before = (await Promise.all(all.map((id) => mustGet(store, id)))).map(stable);
        const countsBefore = await store.counts();
        await store.close();
        const reopened = await fixture.reopen();
        assert.deepEqual((await Promise.all(all.map((id) => mustGet(reopened, id)))).map(stable), before);
        const countsAfter = await reopened.counts();
        assert.deepEqual({ ...countsAfter, nextAttemptAt: 0 }, { ...countsBefore, nextAttemptAt: 0 });
        near(countsAfter.nextAttemptAt, countsBefore.nextAttemptAt ?? 0, 'the earliest due time');
        assert.deepEqual(await reopened.history('A'), [logEntry('call-data', 201, 'delivered')]);
        // A lease held when the process stopped is still a lease: E and F stay out until it expires.
        await sleep(t0 + 700 - Date.now());
        const due = await reopened.lease({ limit: 10, leaseMs: LEASE_MS, owner: 'w2' });
        assert.deepEqual(ids(due), ['D', 'C'], 'the retries, in due order; the live leases stay out');
      }));
    });
  });
}

/** A history entry for the tests. */
function logEntry(step: AttemptLogEntry['step'], status: number | null, outcome: AttemptLogEntry['outcome'], attempt = 1, error: string | null = null): AttemptLogEntry {
  return { at: 1_761_745_857_000 + attempt, step, attempt, status, durationMs: 12.5, outcome, error };
}
