/**
 * Take `docs/dashboard.png`, the README's picture of the dashboard: a fresh SQLite outbox in a temporary
 * folder, a local CRM with some latency and a few forced refusals, a real worker delivering 40 calls
 * into it (a few go dead, one is still waiting for its next attempt), the dashboard over that outbox,
 * and Debian's chromium shooting the page. Nothing is faked: every figure on the picture is what the
 * dashboard reads from the outbox.
 *
 *   node scripts/screenshot-dashboard.ts [out.png]      (default docs/dashboard.png)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { loadConfig } from '../src/config/config.ts';
import { createHttpCrmClient } from '../src/crm/http-crm-client.ts';
import { startDashboard } from '../src/dashboard/server.ts';
import { startLocalCrm } from '../src/local-crm/server.ts';
import { openSqliteOutbox } from '../src/outbox/sqlite-outbox-store.ts';
import type { NewOutboxItem } from '../src/outbox/outbox-store.ts';
import type { CallPayload } from '../src/payload/call-payload.ts';
import { startWorker } from '../src/worker/worker.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const out = resolve(process.argv[2] ?? join(ROOT, 'docs', 'dashboard.png'));
const CHROMIUM = '/usr/bin/chromium';

function call(i: number, startMs: number): NewOutboxItem {
  const start = new Date(startMs).toISOString();
  const end = new Date(startMs + 60_000 + (i % 7) * 13_000).toISOString();
  const phone = `+9198${String(10_000_000 + i * 7919).slice(-8)}`;
  const callId = `CALL-${start.slice(0, 10).replace(/-/g, '')}-${start.slice(11, 19).replace(/:/g, '')}-${(0x5e1a0000 + i * 2654435761).toString(16).slice(-8)}`;
  const payload: CallPayload = {
    campaignId: 'camp-demo',
    voiceAgentId: 'agent-friday',
    client: 'client-demo',
    callDetails: { callId, direction: 'inbound', startTime: start, endTime: end, duration: Math.round((Date.parse(end) - startMs) / 1000), status: 'completed', callerNumber: phone },
    caller: { phoneNumber: phone },
    transcription: {},
    lead: {},
  };
  return { callId, payload, recordingPath: null, sourceFile: `/srv/agent/conversations/transcript_session_${start.replace(/[:.]/g, '-')}.json` };
}

const dir = mkdtempSync(join(tmpdir(), 'crm-dashboard-shot-'));
const crm = await startLocalCrm({ port: 0, latencyMs: 40 });
const store = openSqliteOutbox(join(dir, 'outbox.db'));
const client = createHttpCrmClient({ apiUrl: crm.callDataUrl, uploadUrl: crm.uploadUrl, timeoutMs: 5_000 });
try {
  const now = Date.now();
  const calls = Array.from({ length: 40 }, (_, i) => call(i, now - 55 * 60_000 + i * 80_000));
  const [d1, d2, d3, retried] = [calls[7], calls[19], calls[31], calls[38]].map((c) => c?.callId ?? '');
  const rules = [
    { status: 400, callId: d1, message: 'Validation failed: callDetails.callerNumber +919812345678 is not a valid number' },
    { status: 422, callId: d2, message: 'lead.email ravi.kumar@example.com: domain does not accept mail' },
    { status: 404, callId: d3, message: 'campaign camp-demo is archived' },
    { status: 503, callId: retried, message: 'maintenance' },
  ];
  await fetch(`${crm.url}/__admin/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ forceStatus: rules }) });

  const config = loadConfig({ env: { CRM_OUTBOX: join(dir, 'outbox.db') }, envFile: null });
  const dashboard = await startDashboard({ config, store, port: 0, sampleMs: 250, readEveryMs: 0, refreshMs: 1_000 });
  // Two waves, so that throughput is counted both from the items and from the count's rise.
  await store.enqueueMany(calls.slice(0, 24));
  await startWorker({ store, client, config: { timeoutMs: 5_000, rateLimit: 0, concurrency: 4, maxAttempts: 5, retryScheduleMs: [60 * 60_000], recordingWaitMs: 1_000 }, once: true }).done;
  await store.enqueueMany(calls.slice(24));
  await startWorker({ store, client, config: { timeoutMs: 5_000, rateLimit: 0, concurrency: 2, maxAttempts: 5, retryScheduleMs: [60 * 60_000], recordingWaitMs: 1_000 }, once: true }).done;
  await dashboard.refresh();

  const profile = mkdtempSync(join(tmpdir(), 'crm-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    viewport: { width: 1200, height: 980 },
    deviceScaleFactor: 1,
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${dashboard.url}/#token=${dashboard.token}`);
    await page.click('details summary');
    await page.screenshot({ path: out, fullPage: true });
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
  await dashboard.close();
  process.stderr.write(`saved ${out}\n`);
} finally {
  await client.close();
  await store.close();
  await crm.close();
  rmSync(dir, { recursive: true, force: true });
}
