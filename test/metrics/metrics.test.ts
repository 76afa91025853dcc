/**
 * The delivery metrics on each backend: a real worker against the local CRM (one call with a recording,
 * one forced dead, one 503 then delivered, one 429 then delivered) with the metric hooks, scraped over
 * HTTP from the metrics server — exact counters by outcome and status, the latency histogram, the bytes
 * uploaded, and the queue gauges read from the store at scrape time. Two registries never share a value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDeliveryMetrics, createOutboxGauges, newRegistry } from '../../src/metrics/metrics.ts';
import { startMetricsServer } from '../../src/metrics/metrics-server.ts';
import { startWorker } from '../../src/worker/worker.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { RECORDING_FIXTURE, RECORDING_FIXTURE_SIZE } from '../worker/harness.ts';
import { BACKENDS, crmClient, fastConfig, rawRequest, testItem } from '../dashboard/fixture.ts';
import { sample } from './prom-text.ts';

for (const backend of BACKENDS) {
  describe(`metrics (${backend.name})`, { skip: backend.skip }, () => {
    test('counters by outcome and status, latency, bytes, and queue gauges, scraped over HTTP', { timeout: 30_000 }, async (t) => {
      const crm = await startTestCrm();
      const outbox = await backend.open();
      const registry = newRegistry();
      createOutboxGauges(registry, outbox.store);
      const hooks = createDeliveryMetrics(registry);
      const server = await startMetricsServer({ registry, port: 0 });
      const client = crmClient(crm);
      t.after(async () => {
        await server.close();
        await client.close();
        await outbox.cleanup();
        await crm.close();
      });

      const items = [testItem(500, { recordingPath: RECORDING_FIXTURE }), testItem(501), testItem(502), testItem(503), testItem(504), testItem(505)];
      const [, , , dead, flaky, limited] = items.map((i) => i.callId);
      await crmAdmin(crm.url).faults({
        forceStatus: [
          { status: 400, callId: dead, message: 'lead.email is invalid' },
          { status: 503, callId: flaky, count: 1 },
          { status: 429, callId: limited, count: 1, retryAfterS: 0 },
        ],
      });
      await outbox.store.enqueueMany(items);

      const before = await rawRequest(server.port, '/metrics');
      assert.equal(sample(before.body, 'crm_upload_queue_depth{state="pending"}'), 6);
      assert.ok((sample(before.body, 'crm_upload_oldest_pending_age_seconds') ?? -1) >= 0);

      const summary = await startWorker({ store: outbox.store, client, config: fastConfig(), idleExit: true, ...hooks }).done;
      assert.deepEqual([summary.delivered, summary.retried, summary.waited, summary.dead], [5, 1, 1, 1]);

      const res = await rawRequest(server.port, '/metrics');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const m = res.body;
      const expected: Record<string, number> = {
        'crm_upload_delivered_total{status="201"}': 5,
        'crm_upload_retried_total{outcome="retry",status="503"}': 1,
        'crm_upload_retried_total{outcome="wait",status="429"}': 1,
        'crm_upload_dead_total{status="400"}': 1,
        crm_upload_delivery_latency_seconds_count: 5,
        'crm_upload_delivery_latency_seconds_bucket{le="+Inf"}': 5,
        crm_upload_recording_bytes_uploaded_total: RECORDING_FIXTURE_SIZE,
        'crm_upload_request_duration_seconds_count{step="call-data"}': 8,
        'crm_upload_queue_depth{state="pending"}': 0,
        'crm_upload_queue_depth{state="in_flight"}': 0,
        'crm_upload_queue_depth{state="delivered"}': 5,
        'crm_upload_queue_depth{state="dead"}': 1,
        crm_upload_oldest_pending_age_seconds: 0,
        crm_upload_outbox_up: 1,
      };
      for (const [series, value] of Object.entries(expected)) assert.equal(sample(m, series), value, series);
      assert.equal(m.match(/^crm_upload_delivered_total\{/gm)?.length, 1, 'only the statuses seen');
      assert.ok((sample(m, 'crm_upload_delivery_latency_seconds_sum') ?? -1) >= 0);

      // Another registry in the same process starts from nothing.
      const other = newRegistry();
      createDeliveryMetrics(other);
      assert.equal(sample(await other.metrics(), 'crm_upload_delivery_latency_seconds_count'), 0);

      // Loopback only answers a loopback Host; nothing but GET /metrics.
      assert.equal((await rawRequest(server.port, '/metrics', { headers: { host: `evil.example:${server.port}` } })).status, 421);
      assert.equal((await rawRequest(server.port, '/')).status, 404);
      assert.equal((await rawRequest(server.port, '/metrics', { method: 'POST' })).status, 405);
    });
  });
}
