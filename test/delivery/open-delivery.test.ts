/**
 * The composition root (docs/architecture.md, "Composition root"): one function builds the store, the
 * pacer, the CRM client and the retry policy from a Config; the `outbox` option resolves the same way
 * wherever it is taken; what the root opened it closes, what it was given it leaves open.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { openDelivery, openOutbox, outboxTargetOf } from '../../src/delivery/open-delivery.ts';
import { pacingIntervalMs } from '../../src/pacing/pacer.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { dropPrefix, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait-for.ts';

const dir = mkdtempSync(join(tmpdir(), 'crm-delivery-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configWith(env: Record<string, string>): Config {
  return loadConfig({ env: { CRM_CAMPAIGN_ID: 'c', CRM_VOICE_AGENT_ID: 'v', CRM_CLIENT_ID: 'k', ...env }, cwd: dir, envFile: null });
}

test('outboxTargetOf: the option resolves against config.cwd; a Redis URL or an absolute path is kept', () => {
  const config = { outbox: join(dir, '.crm-upload/outbox.db'), cwd: dir };
  const rows: [string | undefined, string][] = [
    [undefined, config.outbox],
    ['', config.outbox],
    ['queue.db', join(dir, 'queue.db')],
    ['sub/queue.db', join(dir, 'sub/queue.db')],
    ['/var/lib/crm/outbox.db', '/var/lib/crm/outbox.db'],
    ['redis://127.0.0.1:6379/0?queue=q', 'redis://127.0.0.1:6379/0?queue=q'],
    ['rediss://h:6380', 'rediss://h:6380'],
  ];
  for (const [option, want] of rows) assert.equal(outboxTargetOf(config, option), want, String(option));
});

test('openDelivery builds every piece from the config, and delivers through them', async (t) => {
  const crm = await startTestCrm();
  t.after(() => crm.close());
  const config = configWith({
    CRM_API_URL: crm.callDataUrl,
    CRM_UPLOAD_URL: crm.uploadUrl,
    CRM_OUTBOX: 'built.db',
    CRM_RATE_LIMIT: '600',
    CRM_RETRY_SCHEDULE: '50ms,200ms',
    CRM_MAX_ATTEMPTS: '5',
  });
  const delivery = await openDelivery(config);
  try {
    assert.deepEqual(
      { selective: delivery.store.capabilities.selectiveLease, shared: delivery.store.capabilities.sharedPacer },
      { selective: true, shared: null },
      'a SQLite outbox at CRM_OUTBOX',
    );
    assert.equal(delivery.pacer.intervalMs, pacingIntervalMs(600), 'an in-process pacer at CRM_RATE_LIMIT');
    assert.deepEqual([delivery.retryPolicy.scheduleMs, delivery.retryPolicy.maxAttempts], [[50, 200], 5], 'the policy of CRM_RETRY_SCHEDULE and CRM_MAX_ATTEMPTS');
    const payload = makePayload(1);
    await delivery.store.enqueue({ callId: payload.callDetails.callId, payload, recordingPath: null });
    const summary = await delivery.deliverCalls({ callIds: [payload.callDetails.callId], maxWaitMs: 20_000 });
    assert.equal(summary.delivered, 1);
    assert.equal((await crmAdmin(crm.url).calls()).length, 1, 'delivered to CRM_API_URL by its client');
  } finally {
    await delivery.close();
  }
  await assert.rejects(delivery.store.get('x'), 'close() closed the outbox it opened');
});

test('a store passed in is used and left open; openOutbox says which it opened', async () => {
  const config = configWith({ CRM_OUTBOX: 'given.db' });
  const opened = await openOutbox(config);
  assert.equal(opened.owned, true);
  const given = await openOutbox(config, opened.store);
  assert.deepEqual([given.owned, given.store === opened.store], [false, true]);
  const delivery = await openDelivery(config, { store: opened.store });
  await delivery.close();
  assert.equal(await opened.store.get('none'), null, 'still open after the delivery closed');
  await opened.store.close();
});

const skip = await redisSkipReason();

describe('on a shared queue', { skip: skip ?? false }, () => {
  test('two deliveries on one Redis queue share one pacer hold: a 429 held by one stops leases in the other', async () => {
    const { url, prefix } = redisOutboxUrl('root');
    const config = configWith({ CRM_OUTBOX: url, CRM_RATE_LIMIT: '0' });
    const a = await openDelivery(config);
    const b = await openDelivery(config);
    try {
      assert.equal(typeof a.store.capabilities.sharedPacer, 'function', 'the BullMQ store declares its shared pacer');
      assert.equal(a.store.capabilities.selectiveLease, false);
      const payload = makePayload(2);
      await b.store.enqueue({ callId: payload.callDetails.callId, payload, recordingPath: null });
      a.pacer.holdFor(60_000);
      // The hold is written without waiting (the worker is settling); b sees it once it reaches Redis.
      await waitFor("b to see a's hold", async () => ((await b.store.nextDueAt()) ?? 0) >= Date.now() + 30_000, 5_000, 20);
      assert.deepEqual(await b.store.lease({ limit: 5, leaseMs: 10_000, owner: 'b' }), [], 'b leases nothing during the hold');
    } finally {
      await a.close();
      await b.close();
      await dropPrefix(prefix);
    }
  });
});
