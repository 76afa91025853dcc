/**
 * `crm-upload worker --metrics-port 0` as a real child process, with `CRM_ALERT_WEBHOOK_URL` pointing at
 * a receiver in this test and `CRM_ALERT_BACKLOG_S=0`: it prints where /metrics is, its counters match
 * what the local CRM saw, the receiver gets exactly one backlog alert and one dead alert (masked, no
 * key), and SIGTERM stops it gracefully (exit 0).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { finished, removeTempDirs, startCli, tempDir, waitFor } from '../e2e/run-cli.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { rawRequest, startReceiver, testItem } from '../dashboard/fixture.ts';
import { sample } from './prom-text.ts';

const KEY = 'sk-test-worker-key-0042';

test('worker --metrics-port: /metrics, a dead alert and a backlog alert, graceful stop', { timeout: 30_000 }, async (t) => {
  const crm = await startTestCrm();
  const receiver = await startReceiver();
  t.after(async () => {
    await receiver.close();
    await crm.close();
    removeTempDirs();
  });
  const dbPath = join(tempDir('crm-worker-metrics-'), 'outbox.db');
  const items = [0, 1, 2, 3].map((i) => testItem(800 + i, i === 2 ? { phone: '+919812345678' } : {}));
  const dead = items[2]?.callId ?? '';
  const store = openSqliteOutbox(dbPath);
  await store.enqueueMany(items);
  await store.close();
  await crmAdmin(crm.url).faults({ forceStatus: [{ status: 400, callId: dead, message: 'callerNumber +919812345678 is not allowed' }] });

  const started = Date.now();
  const child = startCli(['worker', '--metrics-port', '0'], {
    CRM_API_URL: crm.callDataUrl,
    CRM_API_KEY: KEY,
    CRM_OUTBOX: dbPath,
    CRM_RATE_LIMIT: '0',
    CRM_RETRY_SCHEDULE: '50ms',
    CRM_ALERT_WEBHOOK_URL: receiver.url,
    CRM_ALERT_BACKLOG_S: '0',
    LOG_LEVEL: 'warn',
  });
  const result = finished(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer | string) => (stderr += String(d)));
  const url = await waitFor('the metrics address', async () => /metrics on (http:\/\/127\.0\.0\.1:(\d+)\/metrics)/.exec(stderr)?.[2]);
  const port = Number(url);

  const metrics = await waitFor('3 delivered in /metrics', async () => {
    const res = await rawRequest(port, '/metrics');
    return sample(res.body, 'crm_upload_delivered_total{status="201"}') === 3 && sample(res.body, 'crm_upload_dead_total{status="400"}') === 1 ? res.body : undefined;
  });
  assert.equal(sample(metrics, 'crm_upload_queue_depth{state="delivered"}'), 3);
  assert.equal(sample(metrics, 'crm_upload_queue_depth{state="dead"}'), 1);
  assert.equal(sample(metrics, 'crm_upload_delivery_latency_seconds_count'), 3);
  assert.ok(sample(metrics, 'process_cpu_user_seconds_total') !== undefined, 'the process metrics too');

  const bodies = (await receiver.waitFor(2)) as Record<string, unknown>[];
  const deadAlert = bodies.find((b) => b.kind === 'dead');
  const backlog = bodies.find((b) => b.kind === 'backlog');
  assert.ok(deadAlert !== undefined && backlog !== undefined, JSON.stringify(bodies));
  const at = Date.parse(String(deadAlert.at));
  assert.ok(at >= started && at <= Date.now());
  assert.deepEqual(
    { ...deadAlert, at: 'checked' },
    {
      text: `crm-upload (worker): call ${dead} went dead after 1 attempt (HTTP 400: callerNumber +**********78 is not allowed). Replay it with \`crm-upload dead-letter replay ${dead}\` once the cause is fixed.`,
      kind: 'dead',
      source: 'worker',
      at: 'checked',
      count: 1,
      callId: dead,
      callIds: [dead],
      attempts: 1,
      status: 400,
      reason: 'HTTP 400: callerNumber +**********78 is not allowed',
    },
  );
  assert.deepEqual(
    { kind: backlog.kind, source: backlog.source, pending: backlog.pending, in_flight: backlog.in_flight, dead: backlog.dead, thresholdS: backlog.thresholdS },
    { kind: 'backlog', source: 'worker', pending: 4, in_flight: 0, dead: 0, thresholdS: 0 },
  );

  child.kill('SIGTERM');
  const end = await result;
  assert.equal(end.code, 0, end.stderr);
  assert.equal(receiver.bodies.length, 2, 'exactly one alert of each kind');
  assert.doesNotMatch(JSON.stringify(receiver.bodies), new RegExp(`${KEY}|9812345678`));
  assert.doesNotMatch(end.stderr + end.stdout, new RegExp(KEY));
  assert.equal(end.stdout, '');
});
