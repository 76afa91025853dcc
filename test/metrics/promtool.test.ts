/**
 * Prometheus's own linter on what we expose: `/metrics` of `crm-upload worker --metrics-port 0` and of
 * `crm-upload dashboard`, both real child processes with process metrics on, scraped once the worker has
 * delivered and dead-lettered calls (so that every family has samples, labels and buckets), then piped to
 * `promtool check metrics` (Debian's prometheus package): exit 0 and nothing printed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DROPPED_DEFAULT_METRICS } from '../../src/metrics/metrics.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { finished, removeTempDirs, startCli, tempDir, waitFor } from '../e2e/run-cli.ts';
import { runTool, toolsSkipReason } from '../helpers/debian-tools.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { rawRequest, testItem } from '../dashboard/fixture.ts';
import { sample } from './prom-text.ts';

/** Start a server command, wait for the line giving its port, and return the port and a stopper. */
async function startServer(args: string[], env: Record<string, string>, portLine: RegExp) {
  const child = startCli(args, { LOG_LEVEL: 'warn', ...env });
  const result = finished(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer | string) => (stderr += String(d)));
  const port = Number(await waitFor(`the address of ${args[0]}`, async () => portLine.exec(stderr)?.[1]));
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      const end = await result;
      assert.equal(end.code, 0, end.stderr);
    },
  };
}

describe('promtool check metrics', { skip: toolsSkipReason('promtool'), timeout: 60_000 }, () => {
  after(() => removeTempDirs());

  test('the worker and the dashboard expose metrics promtool finds nothing to say about', async (t) => {
    const crm = await startTestCrm();
    t.after(() => crm.close());
    const dbPath = join(tempDir('crm-promtool-'), 'outbox.db');
    const items = [0, 1, 2].map((i) => testItem(900 + i));
    const store = openSqliteOutbox(dbPath);
    await store.enqueueMany(items);
    await store.close();
    await crmAdmin(crm.url).faults({ forceStatus: [{ status: 400, callId: items[1]?.callId ?? '', message: 'refused' }] });

    const env = { CRM_OUTBOX: dbPath, CRM_API_URL: crm.callDataUrl, CRM_RATE_LIMIT: '0' };
    const worker = await startServer(['worker', '--metrics-port', '0'], env, /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/);
    t.after(() => worker.stop());
    const dashboard = await startServer(['dashboard', '--port', '0'], env, /^listening on http:\/\/127\.0\.0\.1:(\d+)\n/);
    t.after(() => dashboard.stop());

    const workerText = await waitFor('2 delivered and 1 dead in the worker /metrics', async () => {
      const res = await rawRequest(worker.port, '/metrics');
      return sample(res.body, 'crm_upload_delivered_total{status="201"}') === 2 && sample(res.body, 'crm_upload_dead_total{status="400"}') === 1 ? res.body : undefined;
    });
    const dashboardText = (await rawRequest(dashboard.port, '/metrics')).body;
    assert.equal(sample(dashboardText, 'crm_upload_queue_depth{state="delivered"}'), 2);

    for (const [name, text] of [['worker', workerText], ['dashboard', dashboardText]] as const) {
      assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, `${name}: the process metrics are on`);
      assert.match(text, /^nodejs_active_handles\{type="/m, `${name}: handles by type are kept`);
      for (const dropped of DROPPED_DEFAULT_METRICS) assert.doesNotMatch(text, new RegExp(`^${dropped}\\b`, 'm'), `${name}: ${dropped} is gone`);
      const check = await runTool('promtool', ['check', 'metrics'], text);
      assert.deepEqual({ code: check.code, stdout: check.stdout, stderr: check.stderr }, { code: 0, stdout: '', stderr: '' }, `${name} /metrics`);
    }
  });
});
