/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), over a SQLite outbox
 * seeded by a real worker against the local CRM: the page shows the right counts; Replay (after pasting
 * the token) moves a dead call back, a worker in this process delivers it, the page updates by itself
 * and the CRM has received it exactly once more; the token from a URL fragment stays in the tab and
 * leaves the address bar; a page reached under a foreign name (DNS rebinding) gets a 421; a page on
 * another origin cannot replay anything (its CORS fetch is blocked at the preflight, its no-cors fetch
 * and its form POST reach the server and are refused with 403). Screenshots go to the test's output folder (printed).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { loadConfig } from '../../src/config/config.ts';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { chromiumSkipReason, launchBrowser, testOutputDir, type TestBrowser } from './browser.ts';
import { BACKENDS, deliverOnce, eventually, testItem, type TestOutbox } from './fixture.ts';

const TOKEN = 'browser-test-token-0123456789';
const PHONE = '+919876543210';
const sqlite = BACKENDS.find((b) => b.name === 'SQLite');

describe('dashboard in chromium', { skip: chromiumSkipReason(), timeout: 60_000 }, () => {
  let crm: LocalCrm;
  let outbox: TestOutbox;
  let dash: DashboardServer;
  let browser: TestBrowser;
  let attacker: Server;
  let attackerPort = 0;
  const logLines: string[] = [];
  const outDir = testOutputDir('dashboard-browser');
  const items = [0, 1, 2, 3, 4].map((i) => testItem(300 + i, { startedAgoMs: 120_000 - i * 5000, ...(i === 1 ? { phone: PHONE } : {}) }));
  const [, deadA, , deadB] = items.map((i) => i.callId) as [string, string, string, string, string];
  const pending = testItem(305, { startedAgoMs: 10_000 });

  const count = (page: Page, state: string): Promise<string | null> => page.textContent(`[data-count="${state}"]`);
  const counts = async (page: Page): Promise<Record<string, string | null>> => ({
    pending: await count(page, 'pending'),
    in_flight: await count(page, 'in_flight'),
    delivered: await count(page, 'delivered'),
    dead: await count(page, 'dead'),
  });

  before(async () => {
    crm = await startTestCrm();
    if (sqlite === undefined) throw new Error('no SQLite backend');
    outbox = await sqlite.open();
    await outbox.store.enqueueMany(items);
    const seeded = await deliverOnce(outbox.store, crm, { dead: [deadA, deadB], message: `callerNumber ${PHONE} rejected by the CRM` });
    assert.deepEqual([seeded.delivered, seeded.dead], [3, 2]);
    await outbox.store.enqueue(pending);
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        done();
      },
    });
    const config = loadConfig({ env: { CRM_OUTBOX: outbox.target }, envFile: null });
    dash = await startDashboard({ config, store: outbox.store, port: 0, token: TOKEN, refreshMs: 250, sampleMs: 200, readEveryMs: 0, logger: createLogger({ level: 'info', destination: sink }) });

    // A page on another origin that tries to replay every dead call behind the operator's back.
    attacker = createServer((_req, res) => {
      const target = `http://127.0.0.1:${dash.port}/api/dead-letter/replay`;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><body>
<form id="csrf" method="POST" action="${target}" enctype="text/plain"><input name='{"all":true,"x":"' value='"}'></form>
<script>
window.results = {};
(async () => {
  try {
    const r = await fetch(${JSON.stringify(target)}, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ${TOKEN}' }, body: '{"all":true}' });
    results.cors = 'answered ' + r.status;
  } catch (e) { results.cors = 'blocked'; }
  try {
    const r = await fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"all":true}' });
    results.noCors = r.type;
  } catch (e) { results.noCors = 'error ' + e.message; }
  results.done = true;
})();
</script></body>`);
    });
    await new Promise<void>((done) => attacker.listen(0, '127.0.0.1', done));
    attackerPort = (attacker.address() as AddressInfo).port;
    browser = await launchBrowser({ hostRules: 'MAP evil.test 127.0.0.1' });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((done) => (attacker ? attacker.close(() => done()) : done()));
    await dash?.close();
    await outbox?.cleanup();
    await crm?.close();
  });

  test('the page shows the right counts for a seeded outbox', async (t) => {
    const page = await browser.context.newPage();
    const res = await page.goto(`${dash.url}/`);
    assert.equal(res?.status(), 200);
    assert.deepEqual(await counts(page), { pending: '1', in_flight: '0', delivered: '3', dead: '2' });
    const rows = page.locator('tr[data-dead]');
    assert.equal(await rows.count(), 2);
    assert.deepEqual(new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-dead')))), new Set([deadA, deadB]));
    assert.equal(await page.textContent(`tr[data-dead="${deadA}"] [data-status]`), '400');
    assert.equal(await page.textContent(`tr[data-dead="${deadA}"] [data-attempts]`), '1');
    assert.equal(await page.textContent(`tr[data-dead="${deadA}"] td.reason`), 'HTTP 400: callerNumber +**********10 rejected by the CRM');
    assert.doesNotMatch(await page.content(), /9876543210/);
    const shot = join(outDir, 'overview.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    await page.close();
  });

  test('Replay moves a dead call back; the worker delivers it and the CRM receives it once', async (t) => {
    const admin = crmAdmin(crm.url);
    const page = await browser.context.newPage();
    await page.goto(`${dash.url}/`);

    // No token yet: nothing is sent, the page asks for it.
    await page.click(`button[data-replay="${deadA}"]`);
    await page.waitForSelector('#notice:not([hidden])');
    assert.match((await page.textContent('#notice')) ?? '', /Paste the token/);
    assert.equal((await outbox.store.get(deadA))?.state, 'dead');

    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#token-set:not([hidden])');
    assert.equal(await page.isHidden('#token-form'), true, 'the token box goes away once a token is set');
    await page.click(`button[data-replay="${deadA}"]`);
    await page.waitForSelector(`tr[data-dead="${deadA}"]`, { state: 'detached' });
    assert.match((await page.textContent('#notice')) ?? '', /Replayed 1 call/);
    assert.deepEqual(await counts(page), { pending: '2', in_flight: '0', delivered: '3', dead: '1' });
    assert.equal((await outbox.store.get(deadA))?.state, 'pending');

    // A worker in this process, against the local CRM; the page catches up by itself.
    const summary = await deliverOnce(outbox.store, crm);
    assert.equal(summary.delivered, 2);
    // Read from outside: the page's CSP forbids the eval that waitForFunction would need.
    await eventually('the page to show 5 delivered', async () => (await count(page, 'delivered')) === '5');
    assert.deepEqual(await counts(page), { pending: '0', in_flight: '0', delivered: '5', dead: '1' });
    const posts = (await admin.requests()).filter((r) => r.method === 'POST' && r.callId === deadA);
    assert.deepEqual(posts.map((r) => r.status), [400, 201], 'the CRM got it exactly once more');
    assert.equal((await admin.calls()).filter((p) => p.callDetails.callId === deadA).length, 1);
    const shot = join(outDir, 'after-replay.png');
    await page.screenshot({ path: shot, fullPage: true });

    // Search by callId → the timeline: both attempts, the 400 and the 201.
    await page.fill('input[name="callId"]', deadA);
    await page.press('input[name="callId"]', 'Enter');
    await page.waitForURL(`**/calls/${encodeURIComponent(deadA)}`);
    assert.equal(await page.textContent('[data-state]'), 'delivered');
    const timeline = await page.locator('table.timeline tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.querySelector('[data-status]')?.textContent, tr.querySelector('[data-outcome]')?.textContent, tr.getAttribute('data-step')]),
    );
    assert.deepEqual(timeline, [
      ['400', 'dead', 'call-data'],
      ['201', 'delivered', 'call-data'],
    ]);
    const timelineShot = join(outDir, 'timeline.png');
    await page.screenshot({ path: timelineShot, fullPage: true });
    t.diagnostic(`screenshots: ${shot}, ${timelineShot}`);
    await page.close();
  });

  test('a token in the URL fragment is kept for the tab and leaves the address bar', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${dash.url}/#token=${TOKEN}`);
    await page.waitForSelector('#token-set:not([hidden])');
    assert.equal(await page.isVisible('#token-set'), true);
    assert.equal(await page.isHidden('#token-form'), true);
    assert.equal(page.url(), `${dash.url}/`);
    assert.equal(await page.evaluate(`sessionStorage.getItem('crm-upload-dashboard-token')`), TOKEN);
    await page.close();
  });

  test('a foreign Host (DNS rebinding) is refused', async () => {
    const page = await browser.context.newPage();
    const res = await page.goto(`http://evil.test:${dash.port}/`);
    assert.equal(res?.status(), 421);
    const text = (await page.textContent('body')) ?? '';
    assert.match(text, /misdirected request/);
    assert.doesNotMatch(text, /CALL-/);
    await page.close();
  });

  test('a cross-origin POST is refused: CORS fetch blocked, no-cors fetch and form POST get a 403', async () => {
    const refusedBefore = logLines.filter((l) => l.includes('cross-origin request refused')).length;
    const page = await browser.context.newPage();
    await page.goto(`http://evil.test:${attackerPort}/`);
    await page.waitForFunction('window.results.done === true');
    const results = (await page.evaluate('window.results')) as Record<string, unknown>;
    // The no-cors request reaches the server (which refuses it, logged below); its answer, being
    // Cross-Origin-Resource-Policy: same-origin, is then withheld from the page altogether.
    assert.deepEqual(results, { cors: 'blocked', noCors: 'error Failed to fetch', done: true });

    const answer = page.waitForResponse((r) => r.url().endsWith('/api/dead-letter/replay') && r.request().method() === 'POST');
    await page.evaluate(`document.getElementById('csrf').submit()`);
    const res = await answer;
    assert.equal(res.status(), 403);
    assert.equal(((await res.json()) as { code: string }).code, 'E_DASHBOARD_CROSS_ORIGIN');

    await eventually('both refusals logged', async () => logLines.filter((l) => l.includes('cross-origin request refused')).length - refusedBefore === 2);
    assert.equal((await outbox.store.get(deadB))?.state, 'dead', 'nothing was replayed');
    assert.deepEqual((await outbox.store.counts()).dead, 1);
    await page.close();
  });
});
