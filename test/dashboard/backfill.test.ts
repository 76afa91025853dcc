/**
 * A backfill on the dashboard's "last hour", which is by delivery time: 5,000 calls that started months ago,
 * delivered now by a real worker against the local CRM, show as 5,000 calls delivered now — in
 * `GET /api/summary`'s buckets, with their enqueue → delivered latency, and in chromium (Debian's, through
 * playwright-core) on the chart and the per-5-minute table, which the open page updates by itself. The same
 * through the API on BullMQ (fewer calls), whose completed set is ordered by finish time.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.ts';
import type { SummaryView } from '../../src/dashboard/view-model.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { chromiumSkipReason, launchBrowser, testOutputDir, type TestBrowser } from './browser.ts';
import { BACKENDS, deliverOnce, eventually, fastConfig, rawRequest, testItem, type TestOutbox } from './fixture.ts';

const DAY = 24 * 60 * 60_000;
const TOKEN = 'backfill-test-token-0123456789';
/** The "Last hour" section's empty-state line (the dead letter has one of its own). */
const HOUR_EMPTY = 'section[aria-labelledby="hour"] .empty';

/** `count` calls that started 90–120 days ago (a bulk of last season's folders). */
const backfill = (count: number, from: number) => Array.from({ length: count }, (_, i) => testItem(from + i, { startedAgoMs: 90 * DAY + (i % 30) * DAY }));

async function summaryOf(dash: DashboardServer): Promise<SummaryView> {
  const res = await rawRequest(dash.port, '/api/summary');
  assert.equal(res.status, 200);
  return JSON.parse(res.body) as SummaryView;
}

const deliveredIn = (s: SummaryView): number => s.stats.buckets.reduce((n, b) => n + b.delivered, 0);
const latencyCount = (s: SummaryView): number => s.stats.buckets.reduce((n, b) => n + (b.latency?.count ?? 0), 0);

for (const backend of BACKENDS) {
  const calls = backend.name === 'SQLite' ? 5_000 : 500;
  describe(`a backfill on the last hour (${backend.name})`, { skip: backend.skip, timeout: 180_000 }, () => {
    let crm: LocalCrm;
    let outbox: TestOutbox;
    let dash: DashboardServer;
    let browser: TestBrowser | undefined;
    const items = backfill(calls, 10_000);

    before(async () => {
      crm = await startTestCrm();
      outbox = await backend.open();
      await outbox.store.enqueueMany(items);
      const config = loadConfig({ env: { CRM_OUTBOX: outbox.target }, envFile: null });
      dash = await startDashboard({ config, store: outbox.store, port: 0, token: TOKEN, refreshMs: 250, sampleMs: 200, readEveryMs: 0 });
    });

    after(async () => {
      await browser?.close();
      await dash?.close();
      await outbox?.cleanup();
      await crm?.close();
    });

    test(`${calls} calls started months ago, delivered now, are ${calls} calls delivered in the last hour`, async (t) => {
      const page = backend.name === 'SQLite' && chromiumSkipReason() === undefined ? await (browser = await launchBrowser()).context.newPage() : undefined;
      if (page !== undefined) {
        await page.goto(`${dash.url}/`);
        assert.equal(await page.textContent('[data-count="pending"]'), String(calls));
        assert.equal(await page.textContent(HOUR_EMPTY), 'nothing delivered in the last hour');
        assert.equal(await page.getAttribute('[data-peak]', 'data-peak'), '0');
      }
      const before = await summaryOf(dash);
      assert.equal(deliveredIn(before), 0);

      const started = Date.now();
      const run = await deliverOnce(outbox.store, crm, { config: fastConfig({ concurrency: 16 }) });
      assert.equal(run.delivered, calls);
      assert.equal((await crmAdmin(crm.url).stats()).callDataPosts, calls, 'each call reached the CRM once');

      // The server samples on its own timer: the buckets catch up within a few samples.
      const after = await eventually('the backfill in /api/summary', async () => {
        const s = await summaryOf(dash);
        return s.counts.delivered === calls && deliveredIn(s) === calls ? s : undefined;
      }, 30_000);
      assert.equal(latencyCount(after), calls, 'each with its enqueue → delivered latency');
      // Every call sits in a bucket at or after the run started: delivered now, not when it started.
      const firstBucket = after.stats.buckets.find((b) => b.delivered > 0);
      assert.ok(firstBucket !== undefined && firstBucket.end > started, 'the first bucket with calls is the one the run started in or later');
      assert.ok(after.stats.buckets.every((b) => b.latency === null || b.latency.maxMs < Date.now() - started + 60_000), 'latency from the enqueue, not the call start');

      if (page !== undefined) {
        // The open page updates by itself: the delivered count, the chart's peak and the table's rows.
        await page.locator(`[data-count="delivered"]:text-is("${calls}")`).waitFor({ timeout: 30_000 });
        await page.locator(HOUR_EMPTY).waitFor({ state: 'detached', timeout: 30_000 });
        const rows = await page.locator('table.buckets td[data-delivered]').evaluateAll((tds) => tds.map((td) => Number(td.textContent)));
        assert.equal(rows.reduce((a, b) => a + b, 0), calls, 'the per-5-minute table adds up to the backfill');
        const bars = await page.locator('svg rect.bar title').evaluateAll((ts) => ts.map((el) => Number(/: (\d+) delivered/.exec(el.textContent ?? '')?.[1] ?? 'NaN')));
        assert.equal(bars.reduce((a, b) => a + b, 0), calls, 'so do the chart bars');
        const peak = Number(await page.getAttribute('[data-peak]', 'data-peak'));
        assert.equal(peak, Math.max(...bars));
        assert.match((await page.textContent('[data-peak]')) ?? '', new RegExp(`^${peak} calls?$`));
        const shot = join(testOutputDir('dashboard-backfill'), 'backfill.png');
        await page.screenshot({ path: shot, fullPage: true });
        t.diagnostic(`screenshot: ${shot}`);
      }
    });
  });
}
