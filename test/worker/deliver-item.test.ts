/**
 * One attempt against the real local CRM: how each answer becomes a settlement (retry with the
 * schedule, dead when attempts run out, rate-limited waits that cost no attempt up to 100 of them),
 * and that every HTTP request goes through the pacer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutboxItem } from '../../src/outbox/outbox-store.ts';
import { deliverItem, type DeliverContext } from '../../src/worker/deliver-item.ts';
import { MAX_RATE_LIMIT_WAITS, retryPolicy } from '../../src/policy/retry-policy.ts';
import { UNPACED, type Pacer } from '../../src/pacing/pacer.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { items, RECORDING_FIXTURE, setup, testConfig } from './harness.ts';

describe('deliverItem', () => {
  let crm: LocalCrm;
  let h: ReturnType<typeof setup>;
  let next = 0;
  const settings = { retryPolicy: retryPolicy({ maxAttempts: 4, scheduleMs: [1_000, 5_000] }), recordingWaitMs: 1_000, timeoutMs: 2_000 };
  test.before(async () => {
    crm = await startTestCrm();
    h = setup(crm.url, testConfig());
  });
  test.after(async () => {
    await h.close();
    await crm.close();
  });
  test.beforeEach(() => crmAdmin(crm.url).reset());

  /** Enqueue and lease one fresh item, then apply `over` to the leased copy. */
  async function leased(over: Partial<OutboxItem> = {}, recording: string | null = null): Promise<OutboxItem> {
    const [item] = items(1, 500 + next++, recording);
    assert.ok(item);
    await h.store.enqueue(item);
    const [got] = await h.store.lease({ limit: 1, leaseMs: 4_000, owner: 'test', callIds: [item.callId] });
    assert.ok(got);
    return { ...got, ...over };
  }
  const ctx = (pacer: Pacer = UNPACED): DeliverContext => ({ store: h.store, client: h.client, pacer, settings, random: () => 0.5 });

  test('2xx → delivered', async () => {
    const r = await deliverItem(await leased(), ctx());
    assert.equal(r.settlement.kind, 'delivered');
    assert.equal(r.status, 201);
    assert.equal(r.step, 'call-data');
  });

  test('503 → retry after the schedule step for that attempt', async () => {
    await crmAdmin(crm.url).faults({ forceStatus: { status: 503 } });
    const before = Date.now();
    const r = await deliverItem(await leased({ attempts: 1 }), ctx());
    assert.equal(r.settlement.kind, 'retry');
    assert.ok(r.settlement.kind === 'retry' && r.settlement.nextAttemptAt >= before + 5_000 && r.settlement.nextAttemptAt <= Date.now() + 5_000);
    assert.equal(r.status, 503);
  });

  test('the last attempt failing → dead with the last status and message', async () => {
    await crmAdmin(crm.url).faults({ forceStatus: { status: 502, message: 'upstream down' } });
    const r = await deliverItem(await leased({ attempts: 3 }), ctx());
    assert.equal(r.settlement.kind, 'dead');
    assert.ok(r.settlement.kind === 'dead');
    assert.equal(r.settlement.status, 502);
    assert.match(r.settlement.error, /gave up after 4 attempts: HTTP 502: upstream down/);
    assert.equal(r.settlement.countAttempt, true);
  });

  test('429 with Retry-After → wait that long, no attempt used', async () => {
    await crmAdmin(crm.url).faults({ forceStatus: { status: 429, retryAfterS: 7 } });
    const before = Date.now();
    const r = await deliverItem(await leased({ attempts: 3 }), ctx());
    assert.equal(r.settlement.kind, 'wait');
    assert.ok(r.settlement.kind === 'wait' && r.settlement.nextAttemptAt >= before + 7_000 && r.settlement.nextAttemptAt <= Date.now() + 7_000);
  });

  test('429 without Retry-After → wait the next schedule step', async () => {
    await crmAdmin(crm.url).faults({ forceStatus: { status: 429 } });
    const before = Date.now();
    const r = await deliverItem(await leased({ attempts: 0 }), ctx());
    assert.ok(r.settlement.kind === 'wait' && r.settlement.nextAttemptAt >= before + 1_000 && r.settlement.nextAttemptAt <= Date.now() + 1_000);
  });

  test(`after ${MAX_RATE_LIMIT_WAITS} waits a 429 counts as a failed attempt`, async () => {
    await crmAdmin(crm.url).faults({ forceStatus: { status: 429, retryAfterS: 1 } });
    const r = await deliverItem(await leased({ rateLimitWaits: MAX_RATE_LIMIT_WAITS }), ctx());
    assert.equal(r.settlement.kind, 'retry');
    const last = await deliverItem(await leased({ rateLimitWaits: MAX_RATE_LIMIT_WAITS, attempts: 3 }), ctx());
    assert.equal(last.settlement.kind, 'dead');
  });

  test('every request, the upload included, goes through the pacer', async () => {
    let acquired = 0;
    const counting: Pacer = { intervalMs: 0, delayMs: () => 0, acquire: async () => {
      acquired++;
      return true;
    }, holdFor: () => undefined };
    const r = await deliverItem(await leased({}, RECORDING_FIXTURE), ctx(counting));
    assert.equal(r.settlement.kind, 'delivered');
    assert.equal(acquired, 2);
    const stats = await crmAdmin(crm.url).stats();
    assert.equal(stats.requests, 2);
  });

  test('an upload that fails transiently retries the whole item and sends no call data', async () => {
    await crmAdmin(crm.url).faults({ uploadStatus: { status: 500, count: 1 } });
    const item = await leased({}, RECORDING_FIXTURE);
    const r = await deliverItem(item, ctx());
    assert.equal(r.settlement.kind, 'retry');
    assert.equal(r.step, 'recording');
    const stats = await crmAdmin(crm.url).stats();
    assert.equal(stats.callDataPosts, 0);
    assert.equal((await h.store.get(item.callId))?.recording.url, null);
  });
});
