/**
 * Bulk throughput against the local CRM at 20 ms latency, beside a sequential one-connection baseline
 * measured in the same run (goal: ≥ 30× the baseline), and the peak RSS of a bulk over 5,000 and
 * 50,000 small calls (goal: ≤ 200 MB, flat as the count grows).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHttpCrmClient } from '../src/crm/http-crm-client.ts';
import { startLocalCrm } from '../src/local-crm/server.ts';
import { readInputFile } from '../src/ingest/read-file.ts';
import { matchRun } from '../src/match/match-run.ts';
import { buildPayload } from '../src/payload/build-payload.ts';
import { walkFiles } from '../src/ingest/walk.ts';
import { generateCalls } from './generate.ts';

const CHILD = fileURLToPath(new URL('./bulk-child.ts', import.meta.url));

/**
 * Deliveries at once for the bulk runs: what a user with a folder of thousands of calls would pass
 * (`crm-upload bulk --concurrency 128`); the local CRM answers each request after its latency.
 */
const BULK_CONCURRENCY = 128;

/**
 * V8 heap limits a memory-constrained host can give the CLI (`NODE_OPTIONS`, see the README). On a
 * machine with plenty of memory Node 24 lets the young generation grow to 64 MB per semi-space and the
 * old generation well past its live size before it collects: a bulk over 50,000 calls holds about
 * 40 MB live (a heap snapshot after the scan), yet its RSS is several times that. The CLI itself runs
 * with Node's defaults; the benchmark measures both.
 */
export const BULK_NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=1024'];

/**
 * The bulk process starts as the CLI does: with Node's compile cache (the CLI turns it on at start),
 * so that the TypeScript sources are not stripped again — an installed CLI runs compiled JavaScript.
 */
const CHILD_ENV = { ...process.env, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'node-compile-cache') };

interface ChildResult {
  summary: { success: number; total: number; durationMs: number };
  maxRssMb: number;
}

function runChild(dir: string, url: string, outbox: string, concurrency: number, flags: readonly string[] = []): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, CHILD, dir, url, outbox, String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'], env: CHILD_ENV });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 && !last.startsWith('{')) reject(new Error(`bulk child exited ${code}`));
      else resolve(JSON.parse(last) as ChildResult);
    });
  });
}

/** Sequential, one connection: what the old module did, one POST after another. */
async function baseline(dir: string, url: string, count: number): Promise<number> {
  const client = createHttpCrmClient({ apiUrl: url, uploadUrl: url.replace('call-data', 'upload'), apiKey: null, timeoutMs: 10_000, connections: 1 });
  const settings = { campaignId: 'base', voiceAgentId: 'base', clientId: 'base', defaultCallerPhone: null, defaultRegion: 'IN' };
  const started = performance.now();
  let n = 0;
  for await (const entry of walkFiles(dir)) {
    if (n >= count) break;
    const read = await readInputFile(entry.path, { sourceTimezone: 'UTC' });
    if (read.kind !== 'call') continue;
    const bundle = matchRun({ calls: [read.call], leads: [], recordings: [], manifests: [] }).bundles[0];
    if (!bundle) continue;
    const payload = buildPayload(bundle, settings);
    payload.callDetails.callId = `BASE-${payload.callDetails.callId}`;
    await client.postCallData(payload, { idempotencyKey: `base-${n}` });
    n++;
  }
  await client.close();
  return n / ((performance.now() - started) / 1000);
}

/** Run the bulk benchmarks and print their figures. */
export async function benchBulk(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'crm-bench-bulk-'));
  try {
    const crm = await startLocalCrm({ port: 0, latencyMs: 20 });
    const dir3k = await generateCalls(join(work, 'calls-3000'), 3_000);
    const base = await baseline(dir3k, crm.callDataUrl, 150);
    const concurrency = BULK_CONCURRENCY;
    console.log(`bulk runs: as the CLI runs (Node's defaults, compile cache on), --concurrency ${concurrency}`);
    const bulk = await runChild(dir3k, crm.callDataUrl, join(work, 'outbox-3000.db'), concurrency);
    const rate = bulk.summary.success / (bulk.summary.durationMs / 1000);
    console.log(`sequential one-connection baseline (20 ms latency): ${base.toFixed(1)} calls/s`);
    console.log(`bulk 3,000 calls, concurrency ${concurrency} (20 ms latency): ${bulk.summary.success}/${bulk.summary.total} delivered in ${(bulk.summary.durationMs / 1000).toFixed(1)} s = ${rate.toFixed(0)} calls/s (scan + match + enqueue + deliver)`);
    console.log(`ratio: ${(rate / base).toFixed(1)}× the baseline (goal ≥ 30×)`);
    await crm.close();

    const fast = await startLocalCrm({ port: 0 });
    for (const count of [5_000, 50_000]) {
      const dir = await generateCalls(join(work, `calls-${count}`), count);
      for (const flags of [[], BULK_NODE_FLAGS]) {
        const r = await runChild(dir, fast.callDataUrl, join(work, `outbox-${count}-${flags.length}.db`), concurrency, flags);
        const how = flags.length === 0 ? "Node's defaults" : `NODE_OPTIONS="${flags.join(' ')}"`;
        console.log(`bulk over ${count.toLocaleString('en')} small calls (${how}): ${r.summary.success} delivered in ${(r.summary.durationMs / 1000).toFixed(1)} s, peak RSS ${r.maxRssMb.toFixed(0)} MB (goal ≤ 200 MB, flat)`);
        await fast.state.store.reset(); // the next run delivers the same calls again
      }
      await rm(dir, { recursive: true, force: true });
    }
    await fast.close();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) await benchBulk();
