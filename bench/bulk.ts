/**
 * Bulk throughput against the local CRM at 20 ms latency, beside a sequential one-connection baseline
 * measured in the same run (goal: ≥ 30× the baseline), and the peak RSS of `crm-upload bulk` itself
 * (the published bin in its own process, no flags given, every call with a lead file matched by time,
 * `--concurrency 16`) over 5,000 and 50,000 calls, and 200,000 with `CRM_BENCH_FULL=1` (issue 16 goal:
 * ≤ 200 MB at each size, flat: ≤ 1.5× the 5,000 figure). The peak is the kernel's high-water mark of
 * the process (VmHWM in /proc/<pid>/status), sampled while it runs. The calls are generated once into
 * a temporary folder, the larger sizes adding to the smaller, and deleted afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
 * The published bin (`dist/cli/main.js`, what `npm install crm-upload` runs), built first when missing or
 * older than the sources: running the TypeScript sources adds the type stripper's memory to the figure.
 */
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Build `dist/` (npm run build) so that the RSS runs measure the bin users run. */
function buildDist(): void {
  const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed: the RSS runs need dist/');
}

/** The issue-16 sizes: 200,000 only with CRM_BENCH_FULL (generating and delivering it takes minutes). */
const RSS_SIZES = process.env.CRM_BENCH_FULL ? [5_000, 50_000, 200_000] : [5_000, 50_000];
/** The RSS goal, MB, and how much above the 5,000-call figure a larger run may peak. */
const RSS_GOAL_MB = 200;
const FLAT_FACTOR = 1.5;

/** VmHWM (peak resident set) of a live process, MB; null once it has exited or off Linux. */
async function peakRssMb(pid: number): Promise<number | null> {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

interface CliRun {
  summary: { success: number; total: number; durationMs: number };
  peakRssMb: number;
}

/** `crm-upload bulk` in its own process, as a user runs it; its peak RSS sampled every 100 ms. */
function runCli(dir: string, leads: string, url: string, outbox: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env = {
      ...CHILD_ENV,
      CRM_API_URL: url,
      CRM_OUTBOX: outbox,
      CRM_CAMPAIGN_ID: 'bench',
      CRM_VOICE_AGENT_ID: 'bench',
      CRM_CLIENT_ID: 'bench',
      CRM_RATE_LIMIT: '0',
      CRM_SOURCE_TIMEZONE: 'UTC',
    };
    const child = spawn(process.execPath, [CLI, 'bulk', dir, '--leads', leads, '--concurrency', '16', '--max-wait', '1h', '--json', '--no-progress'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    let peak = 0;
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const sample = setInterval(() => {
      void peakRssMb(child.pid ?? 0).then((mb) => (peak = Math.max(peak, mb ?? 0)));
    }, 100);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sample);
      const last = out.trim().split('\n').pop() ?? '';
      if (!last.startsWith('{')) reject(new Error(`crm-upload bulk exited ${code}: ${out.slice(-500)}${err}`));
      else resolve({ summary: JSON.parse(last) as CliRun['summary'], peakRssMb: peak });
    });
  });
}

/**
 * Deliveries at once for the bulk runs: what a user with a folder of thousands of calls would pass
 * (`crm-upload bulk --concurrency 128`); the local CRM answers each request after its latency.
 */
const BULK_CONCURRENCY = 128;

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

    await benchBulkRss(work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The peak RSS figures of `crm-upload bulk` at each size (calls generated under `work`). */
export async function benchBulkRss(work: string, sizes: readonly number[] = RSS_SIZES): Promise<number[]> {
    // Peak RSS: the calls of each size generated once (each size adds to the one before), leads beside.
    buildDist();
    const fast = await startLocalCrm({ port: 0 });
    const calls = join(work, 'rss-calls');
    const leads = join(work, 'rss-leads');
    let generated = 0;
    const peaks: number[] = [];
    console.log(`peak RSS of crm-upload bulk (the published bin dist/cli/main.js in its own process, no flags given, leads matched, --concurrency 16; goal ≤ ${RSS_GOAL_MB} MB and ≤ ${FLAT_FACTOR}× the 5,000 figure):`);
    for (const count of sizes) {
      await generateCalls(calls, count - generated, Date.UTC(2025, 0, 1) + generated * 15 * 60_000, leads, generated);
      generated = count;
      const r = await runCli(calls, leads, fast.callDataUrl, join(work, `outbox-rss-${count}.db`));
      peaks.push(r.peakRssMb);
      const flat = r.peakRssMb / (peaks[0] ?? r.peakRssMb);
      const meets = r.peakRssMb <= RSS_GOAL_MB && flat <= FLAT_FACTOR;
      console.log(
        `  ${count.toLocaleString('en').padStart(7)} calls: ${r.summary.success} delivered in ${(r.summary.durationMs / 1000).toFixed(1)} s, ` +
          `peak RSS ${r.peakRssMb.toFixed(0)} MB (goal ≤ ${RSS_GOAL_MB} MB; ${flat.toFixed(2)}× the 5,000 figure, goal ≤ ${FLAT_FACTOR}×)  ${meets ? 'meets' : 'MISSES'}`,
      );
      await fast.state.store.reset(); // the next run delivers the same calls again
    }
    await fast.close();
    return peaks;
}

if (import.meta.main) {
  if (process.argv[2] === 'rss') {
    // Only the peak RSS figures: `node bench/bulk.ts rss [size…]`.
    const work = await mkdtemp(join(tmpdir(), 'crm-bench-bulk-'));
    try {
      await benchBulkRss(work, process.argv.length > 3 ? process.argv.slice(3).map(Number) : RSS_SIZES);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  } else await benchBulk();
}
