/**
 * Alerts against a real webhook receiver (a node:http server in this test): the exact bodies of the
 * dead and backlog alerts (Slack-compatible `text` plus structured fields), masked and without secrets;
 * at most one alert per kind per 5 minutes, the dead calls of the window gathered into the next one;
 * and the dashboard's backlog alert on each backend.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { createAlerter, deadCallOf } from '../../src/alerts/alerter.ts';
import { startBacklogWatch } from '../../src/alerts/backlog-watch.ts';
import { loadConfig } from '../../src/config/config.ts';
import { startDashboard } from '../../src/dashboard/server.ts';
import type { OutboxCounts, OutboxItem } from '../../src/outbox/outbox-store.ts';
import { BACKENDS, startReceiver, testItem } from '../dashboard/fixture.ts';

const T0 = Date.parse('2025-11-03T09:00:00.000Z');
const MIN = 60_000;
const KEY = 'sk-live-THE-API-KEY-0001';
const counts = (over: Partial<OutboxCounts>): OutboxCounts => ({ pending: 0, in_flight: 0, delivered: 0, dead: 0, nextAttemptAt: null, oldestPendingAt: null, ...over });

test('dead alerts: exact bodies, masked, no key; one per 5 minutes, the rest gathered into the next', async (t) => {
  const receiver = await startReceiver();
  let clock = T0;
  const alerter = createAlerter({ webhookUrl: receiver.url, source: 'worker', now: () => clock, secrets: [KEY] });
  t.after(async () => {
    await alerter.close();
    await receiver.close();
  });

  alerter.dead({ callId: 'CALL-20251103-085500-aaaa0001', attempts: 3, status: 400, error: `HTTP 400: callerNumber +919812345678 is invalid, ask priya.k@example.com (key ${KEY})` });
  const [first] = await receiver.waitFor(1);
  assert.deepEqual(first, {
    text:
      'crm-upload (worker): call CALL-20251103-085500-aaaa0001 went dead after 3 attempts (HTTP 400: callerNumber +**********78 is invalid, ask p***@example.com (key ***)). ' +
      'Replay it with `crm-upload dead-letter replay CALL-20251103-085500-aaaa0001` once the cause is fixed.',
    kind: 'dead',
    source: 'worker',
    at: '2025-11-03T09:00:00.000Z',
    count: 1,
    callId: 'CALL-20251103-085500-aaaa0001',
    callIds: ['CALL-20251103-085500-aaaa0001'],
    attempts: 3,
    status: 400,
    reason: 'HTTP 400: callerNumber +**********78 is invalid, ask p***@example.com (key ***)',
  });
  assert.deepEqual(receiver.requests[0], { method: 'POST', contentType: 'application/json' });

  // Within the window: held back.
  clock = T0 + 1 * MIN;
  alerter.dead({ callId: 'CALL-B', attempts: 1, status: 422, error: 'lead.email is invalid' });
  clock = T0 + 4 * MIN;
  alerter.dead({ callId: 'CALL-C', attempts: 10, status: null, error: 'gave up after 10 attempts: timeout' });
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(receiver.bodies.length, 1, 'nothing more within 5 minutes');

  // The window is over: the next one carries every call held back, and itself.
  clock = T0 + 5 * MIN;
  alerter.dead({ callId: 'CALL-D', attempts: 2, status: 404, error: 'HTTP 404: campaign not found' });
  const bodies = await receiver.waitFor(2);
  assert.deepEqual(bodies[1], {
    text: 'crm-upload (worker): 3 calls went dead since the last alert; the latest, CALL-D, after 2 attempts (HTTP 404: campaign not found). See `crm-upload dead-letter list`.',
    kind: 'dead',
    source: 'worker',
    at: '2025-11-03T09:05:00.000Z',
    count: 3,
    callId: 'CALL-D',
    callIds: ['CALL-B', 'CALL-C', 'CALL-D'],
    attempts: 2,
    status: 404,
    reason: 'HTTP 404: campaign not found',
  });
  const all = JSON.stringify(receiver.bodies);
  assert.doesNotMatch(all, /9812345678|priya|sk-live|secret-part/);
  assert.equal(alerter.sent, 2);
});

test('dead calls held back are sent by themselves when the window ends', async (t) => {
  const receiver = await startReceiver();
  const alerter = createAlerter({ webhookUrl: receiver.url, source: 'worker', minIntervalMs: 300 });
  t.after(async () => {
    await alerter.close();
    await receiver.close();
  });
  alerter.dead({ callId: 'CALL-1', attempts: 1, status: 400, error: 'bad' });
  alerter.dead({ callId: 'CALL-2', attempts: 1, status: 400, error: 'bad' });
  alerter.dead({ callId: 'CALL-3', attempts: 1, status: 400, error: 'worse' });
  await receiver.waitFor(1);
  assert.equal(receiver.bodies.length, 1);
  const bodies = await receiver.waitFor(2, 3_000);
  assert.deepEqual(
    bodies.map((b) => [(b as { count: number }).count, (b as { callIds: string[] }).callIds]),
    [
      [1, ['CALL-1']],
      [2, ['CALL-2', 'CALL-3']],
    ],
  );
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(receiver.bodies.length, 2, 'nothing held back, nothing more sent');
});

test('deadCallOf: a dead settlement counts its last attempt; other outcomes are no alert', () => {
  const item = { callId: 'CALL-X', attempts: 2 } as OutboxItem;
  assert.deepEqual(deadCallOf({ callId: 'CALL-X', kind: 'dead', status: 400, error: 'no', countAttempt: true }, item), { callId: 'CALL-X', attempts: 3, status: 400, error: 'no' });
  assert.deepEqual(deadCallOf({ callId: 'CALL-X', kind: 'dead', status: null, error: 'no', countAttempt: false }, item), { callId: 'CALL-X', attempts: 2, status: null, error: 'no' });
  assert.equal(deadCallOf({ callId: 'CALL-X', kind: 'delivered', status: 201 }, item), null);
  assert.equal(deadCallOf({ callId: 'CALL-X', kind: 'retry', status: 503, error: 'x', nextAttemptAt: 0 }, item), null);
});

test('backlog alerts: exact body over the threshold, none under it, one per 5 minutes', async (t) => {
  const receiver = await startReceiver();
  let clock = T0;
  const alerter = createAlerter({ webhookUrl: receiver.url, source: 'dashboard', now: () => clock });
  t.after(async () => {
    await alerter.close();
    await receiver.close();
  });
  assert.equal(alerter.backlog(counts({ pending: 3, oldestPendingAt: T0 - 600_000 }), 600), false, 'exactly at the threshold is not over it');
  assert.equal(alerter.backlog(counts({}), 0), false, 'nothing undelivered');
  assert.equal(alerter.backlog(counts({ pending: 42, in_flight: 3, dead: 7, oldestPendingAt: T0 - 725_000 }), 600), true);
  const [body] = await receiver.waitFor(1);
  assert.deepEqual(body, {
    text: 'crm-upload (dashboard): backlog — the oldest undelivered call was enqueued 12.1m ago (threshold 10m); 42 pending, 3 in flight, 7 dead.',
    kind: 'backlog',
    source: 'dashboard',
    at: '2025-11-03T09:00:00.000Z',
    oldestPendingAt: '2025-11-03T08:47:55.000Z',
    oldestPendingAgeS: 725,
    thresholdS: 600,
    pending: 42,
    in_flight: 3,
    dead: 7,
  });
  clock = T0 + 5 * MIN - 1;
  assert.equal(alerter.backlog(counts({ pending: 1, oldestPendingAt: T0 - 725_000 }), 600), true);
  clock = T0 + 5 * MIN;
  assert.equal(alerter.backlog(counts({ pending: 1, oldestPendingAt: T0 - 725_000 }), 600), true);
  await receiver.waitFor(2);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(receiver.bodies.length, 2);
  assert.equal((receiver.bodies[1] as { at: string }).at, '2025-11-03T09:05:00.000Z');
});

test('a webhook that fails or hangs never throws and never blocks close() for long', async (t) => {
  // Refused at once.
  const refused = createAlerter({ webhookUrl: 'http://127.0.0.1:1/hook', source: 'worker', timeoutMs: 500 });
  refused.dead({ callId: 'CALL-1', attempts: 1, status: 400, error: 'bad' });
  await refused.close();
  assert.equal(refused.sent, 1);
  // Accepted and never answered: close() still returns, at the alert's own timeout (it would otherwise
  // wait for ever; how soon is no test's business).
  const held = new Set<Socket>();
  const hang = createServer((socket) => void held.add(socket));
  await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of held) s.destroy();
    hang.close();
  });
  const alerter = createAlerter({ webhookUrl: `http://127.0.0.1:${(hang.address() as AddressInfo).port}/hook`, source: 'worker', timeoutMs: 500 });
  alerter.dead({ callId: 'CALL-2', attempts: 1, status: 400, error: 'bad' });
  await alerter.close();
  assert.equal(alerter.sent, 1);
  assert.equal(held.size, 1, 'the alert reached the webhook, which never answered');
});

for (const backend of BACKENDS) {
  describe(`backlog alerts from a real outbox (${backend.name})`, { skip: backend.skip }, () => {
    test('the dashboard alerts once for an old backlog, however often it samples', { timeout: 20_000 }, async (t) => {
      const receiver = await startReceiver();
      const outbox = await backend.open();
      t.after(async () => {
        await outbox.cleanup();
        await receiver.close();
      });
      await outbox.store.enqueueMany([testItem(700), testItem(701)]);
      const config = loadConfig({ env: { CRM_OUTBOX: outbox.target, CRM_ALERT_WEBHOOK_URL: receiver.url, CRM_ALERT_BACKLOG_S: '0' }, envFile: null });
      await new Promise((r) => setTimeout(r, 5));
      const dash = await startDashboard({ config, store: outbox.store, port: 0, token: 'alert-test-token-0123456789', sampleMs: 40 });
      const [body] = await receiver.waitFor(1);
      await new Promise((r) => setTimeout(r, 300));
      await dash.close();
      assert.equal(receiver.bodies.length, 1, 'one alert within 5 minutes, for ~8 samples');
      const b = body as Record<string, unknown>;
      assert.deepEqual(
        { kind: b.kind, source: b.source, pending: b.pending, in_flight: b.in_flight, dead: b.dead, thresholdS: b.thresholdS },
        { kind: 'backlog', source: 'dashboard', pending: 2, in_flight: 0, dead: 0, thresholdS: 0 },
      );
      assert.match(String(b.text), /^crm-upload \(dashboard\): backlog — the oldest undelivered call was enqueued \d+ms ago \(threshold 0ms\); 2 pending, 0 in flight, 0 dead\.$/);
    });

    test('the worker process check (startBacklogWatch) reads the store and alerts', { timeout: 20_000 }, async (t) => {
      const receiver = await startReceiver();
      const outbox = await backend.open();
      const alerter = createAlerter({ webhookUrl: receiver.url, source: 'worker' });
      t.after(async () => {
        await alerter.close();
        await outbox.cleanup();
        await receiver.close();
      });
      const watchEmpty = startBacklogWatch({ store: outbox.store, alerter, thresholdS: 0, everyMs: 20 });
      await new Promise((r) => setTimeout(r, 100));
      await watchEmpty.stop();
      assert.equal(receiver.bodies.length, 0, 'no backlog, no alert');
      await outbox.store.enqueue(testItem(710));
      await new Promise((r) => setTimeout(r, 5));
      const watch = startBacklogWatch({ store: outbox.store, alerter, thresholdS: 0, everyMs: 20 });
      const [body] = await receiver.waitFor(1);
      await new Promise((r) => setTimeout(r, 100));
      await watch.stop();
      assert.equal(receiver.bodies.length, 1);
      assert.equal((body as { pending: number }).pending, 1);
    });
  });
}
