/**
 * Ingest API benchmark (issue 8, "Done when"): `POST /v1/calls` requests per second and latency
 * percentiles at 16 concurrent clients against the real `crm-upload serve` (its own process), while its
 * in-process worker delivers to the local CRM (its own process too, 20 ms latency, pacing off), beside
 * the same load with `--no-worker` for comparison. Goal: p99 ≤ 10 ms. Issue 16's goal: with 16 clients
 * offering 400 req/s and the worker delivering, p99 ≤ 1.2× that of a bare `node:http` server
 * (`bench/serve-bare.ts`, its own process) under the same load from the same client code in the same run.
 * Figures only; nothing is asserted.
 * Run alone with `node bench/serve.ts`.
 *
 * The outbox lives under `.crm-upload/` in the current directory, the disk the real outbox uses (a
 * tmpfs /tmp would make every fsync free).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { crmAdmin, spawnListening, spawnLocalCrmProcess } from '../test/helpers/local-crm.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

/** What `measureServe` varies. */
export interface ServeBenchOptions {
  /** Concurrent clients (default 16). */
  clients?: number;
  /** Timed requests per run (default 4000), after a warm-up of a tenth as many. */
  requests?: number;
  /** Latency the local CRM adds to every answer (default 20 ms). */
  latencyMs?: number;
  /** Requests per second the clients offer together in the paced run (default 400). */
  pacedRate?: number;
  /** Folder for the temporary outboxes (default: a fresh folder under `./.crm-upload/`). */
  dir?: string;
}

/** One measured run. */
export interface ServeRun {
  worker: boolean;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Calls the CRM had received by the end of the posting (0 without the worker). */
  deliveredDuringRun: number;
  /** Seconds from the end of the posting until every call was delivered (null without the worker). */
  drainSeconds: number | null;
  /**
   * CPU time of the serve process per timed request, ms (all its threads; Linux only, else null): a
   * figure a busy machine does not inflate the way it inflates latencies.
   */
  cpuMsPerRequest: number | null;
}

/** The figures `benchServe` prints. */
export interface ServeBenchResult {
  clients: number;
  latencyMs: number;
  ingestOnly: ServeRun;
  withWorker: ServeRun;
  /** The worker delivering meanwhile, the clients together offering `pacedRate` requests per second. */
  pacedWithWorker: ServeRun;
  pacedRate: number;
  /**
   * The same load against a bare `node:http` server that reads each body and answers 202 (no JSON
   * parsing, no outbox): the ceiling this machine and load generator allow, to tell the API's own cost
   * from the machine's.
   */
  bareHttp: ServeRun;
  /**
   * The bare server under the paced load (`pacedRate` offered by `clients` clients, the same bodies'
   * shape), measured just before `pacedWithWorker`: the reference of issue 16's goal, serve's p99 ≤ 1.2×
   * this p99.
   */
  bareHttpPaced: ServeRun;
  /**
   * The bare server that also parses each body and commits it to SQLite (WAL, `synchronous=FULL`, one
   * transaction per turn of its event loop) before answering, under the paced load, measured just before
   * `pacedWithWorker`: the least any server that answers once the call is on disk does.
   */
  durableHttpPaced: ServeRun;
  /** The paced load with `serve --no-worker` and `crm-upload worker` in two processes on one outbox. */
  pacedSplit: ServeRun;
  /** `--no-worker` under the paced load: what the API costs without the worker sharing its event loop. */
  pacedIngestOnly: ServeRun;
}

/** Issue 16's goal: serve's p99 (worker delivering, paced load) at most this many times the bare server's. */
export const SERVE_P99_GOAL_RATIO = 1.2;

/** A transcript-logger session of its own for request `n` (its own session id, so its own callId). */
function body(run: string, n: number): string {
  const start = Date.UTC(2025, 9, 29, 8, 0, 0) + n * 1000;
  const iso = (ms: number) => new Date(ms).toISOString();
  const items = [
    { role: 'assistant', content: `Namaste! Main aapki kis tarah help kar sakti hoon? (${n})`, timestamp: iso(start), source: 'agent' },
    { role: 'user', content: 'Mujhe pricing ke baare mein jaanna hai.', timestamp: iso(start + 4000), transcript_confidence: 0.93, source: 'transcription_node' },
    { role: 'assistant', content: 'Zaroor! Main aapko details bhej deti hoon.', timestamp: iso(start + 9000), source: 'agent' },
    { role: 'user', content: 'Thank you.', timestamp: iso(start + 14000), source: 'transcription_node' },
  ];
  const session = {
    session_id: `session_${run}_${String(n).padStart(8, '0')}`,
    start_time: iso(start).replace('T', ' ').replace('Z', ''),
    end_time: iso(start + 20_000).replace('T', ' ').replace('Z', ''),
    items,
    total_items: items.length,
    duration_seconds: 20,
    lead_generated: false,
    metadata: {},
  };
  return JSON.stringify({ session, callerNumber: `99999${String(n % 100_000).padStart(5, '0')}` });
}

/** CPU time (user + system) a process has used so far, ms; null where /proc is not there. */
function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the command name (which may hold spaces, inside parentheses): utime, stime are 12 and 13.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    // USER_HZ is 100 on every Linux this runs on.
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}

// The reference: a bare node:http server that reads each body whole and answers 202 (bench/serve-bare.ts).
const BARE = fileURLToPath(new URL('./serve-bare.ts', import.meta.url));

/** Spawn `crm-upload serve --port 0 …` (or, with `bare`, the ceiling server) and resolve once it prints where it listens. */
async function spawnServe(args: string[], env: Record<string, string>, bare: string[] | null = null): Promise<{ url: string; pid: number | undefined; stop: () => Promise<number | null> }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRM_')) base[k] = v;
  const argv = bare !== null ? [BARE, ...bare] : [MAIN, 'serve', '--port', '0', ...args];
  const server = await spawnListening(argv, { env: { ...base, ...env }, label: 'serve', timeoutMs: 20_000 });
  return { url: server.url, pid: server.child.pid, stop: server.stop };
}

// Every /v1 request needs the Bearer token (docs/architecture.md, "serve"); the bare server gets it too and
// ignores it, so that both see the same requests.
const INGEST_TOKEN = 'bench-ingest-token-0123456789abcdef';

/** POST one body; resolves to the status once the answer is read. */
function post(agent: Agent, url: URL, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${INGEST_TOKEN}` };
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * `clients` loops posting `bodies`; the latency of each request, ms. Flat out by default (each client
 * sends its next request as soon as the last is answered: the server saturated); with `ratePerSecond`,
 * request k is due at k / rate seconds (the clients together offer that rate, as agents ending calls
 * do), and a client whose request is late sends the next at once.
 */
async function load(url: string, bodies: string[], clients: number, ratePerSecond?: number): Promise<{ latencies: number[]; seconds: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const target = new URL('/v1/calls', url);
  const latencies: number[] = [];
  let next = 0;
  try {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let k = next++, b = bodies[k]; b !== undefined; k = next++, b = bodies[k]) {
          if (ratePerSecond !== undefined) {
            const due = t0 + (k * 1000) / ratePerSecond;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          const s = performance.now();
          const status = await post(agent, target, b);
          latencies.push(performance.now() - s);
          if (status !== 202) throw new Error(`POST /v1/calls answered ${status}`);
        }
      }),
    );
    return { latencies, seconds: (performance.now() - t0) / 1000 };
  } finally {
    agent.destroy();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** One run: a fresh outbox and server (or the bare one), a warm-up, then the timed load. */
async function runOnce(crmUrl: string, dir: string, kind: 'worker' | 'split' | 'ingest' | 'bare' | 'durable', clients: number, requests: number, ratePerSecond?: number): Promise<ServeRun> {
  const admin = crmAdmin(crmUrl);
  await admin.reset();
  // 'split': serve --no-worker, and `crm-upload worker` in a process of its own on the same outbox.
  const worker = kind === 'worker' || kind === 'split';
  const name = ratePerSecond === undefined ? kind : `${kind}-paced`;
  const env: Record<string, string> = {
    CRM_API_URL: `${crmUrl}/apis/api/public/call-data`,
    CRM_OUTBOX: join(dir, `${name}.db`),
    CRM_CAMPAIGN_ID: 'camp-bench',
    CRM_VOICE_AGENT_ID: 'agent-bench',
    CRM_CLIENT_ID: 'client-bench',
    CRM_RATE_LIMIT: '0',
    CRM_CONCURRENCY: '16',
    CRM_INGEST_TOKEN: INGEST_TOKEN,
    CRM_TIMEOUT_MS: '10s',
    LOG_LEVEL: 'warn',
  };
  const bare = kind === 'bare' ? [] : kind === 'durable' ? ['--durable', join(dir, `${name}.db`)] : null;
  const serve = await spawnServe(kind === 'worker' ? [] : ['--no-worker'], env, bare);
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRM_')) base[k] = v;
  const deliverer = kind === 'split' ? spawn(process.execPath, [MAIN, 'worker'], { env: { ...base, ...env }, stdio: 'ignore' }) : null;
  try {
    const warm = Math.max(100, Math.floor(requests / 10));
    // Numbered on from the warm-up: every request is a call of its own (a repeat would be cheaper).
    await load(serve.url, Array.from({ length: warm }, (_, n) => body(name, n)), clients);
    // A paced run measures the API under a steady load: the warm-up's flat-out backlog is delivered
    // before the timed part starts, so that the worker is not still catching up on it meanwhile.
    if (worker && ratePerSecond !== undefined) {
      const deadline = performance.now() + 60_000;
      while ((await admin.stats()).created < warm && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    const bodies = Array.from({ length: requests }, (_, n) => body(name, warm + n));
    const cpuBefore = cpuMs(serve.pid);
    const { latencies, seconds } = await load(serve.url, bodies, clients, ratePerSecond);
    const cpuAfter = cpuMs(serve.pid);
    const deliveredDuringRun = (await admin.stats()).created;
    let drainSeconds: number | null = null;
    if (worker) {
      const t0 = performance.now();
      const total = warm + requests;
      const deadline = t0 + 120_000;
      while ((await admin.stats()).created < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      drainSeconds = (await admin.stats()).created >= total ? (performance.now() - t0) / 1000 : null;
    }
    const sorted = latencies.slice().sort((a, b) => a - b);
    return {
      worker,
      requests,
      seconds,
      requestsPerSecond: requests / seconds,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? NaN,
      deliveredDuringRun,
      drainSeconds,
      cpuMsPerRequest: cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / requests,
    };
  } finally {
    await serve.stop();
    if (deliverer !== null && deliverer.exitCode === null) {
      const exited = new Promise((done) => deliverer.once('exit', done));
      deliverer.kill('SIGTERM');
      await exited;
    }
  }
}

/** Both runs against one local CRM process. */
export async function measureServe(options: ServeBenchOptions = {}): Promise<ServeBenchResult> {
  const clients = options.clients ?? 16;
  const requests = options.requests ?? 4000;
  const latencyMs = options.latencyMs ?? 20;
  const parent = options.dir ?? join(process.cwd(), '.crm-upload');
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'bench-serve-'));
  const crm = await spawnLocalCrmProcess(['--latency-ms', String(latencyMs)]);
  try {
    const bareHttp = await runOnce(crm.url, dir, 'bare', clients, requests);
    const ingestOnly = await runOnce(crm.url, dir, 'ingest', clients, requests);
    const withWorker = await runOnce(crm.url, dir, 'worker', clients, requests);
    // Below what the worker can deliver (~650 calls/s here), so that the run measures the API under a
    // steady load rather than a backlog growing without end.
    const pacedRate = options.pacedRate ?? 400;
    // The reference right before, under the same paced load from the same client code.
    const bareHttpPaced = await runOnce(crm.url, dir, 'bare', clients, requests, pacedRate);
    const durableHttpPaced = await runOnce(crm.url, dir, 'durable', clients, requests, pacedRate);
    const pacedWithWorker = await runOnce(crm.url, dir, 'worker', clients, requests, pacedRate);
    // The same, the worker in a process of its own (serve --no-worker beside `crm-upload worker`).
    const pacedSplit = await runOnce(crm.url, dir, 'split', clients, requests, pacedRate);
    // To tell the API's own cost from the worker's share of the event loop.
    const pacedIngestOnly = await runOnce(crm.url, dir, 'ingest', clients, requests, pacedRate);
    return { clients, latencyMs, ingestOnly, withWorker, pacedWithWorker, pacedRate, bareHttp, bareHttpPaced, durableHttpPaced, pacedSplit, pacedIngestOnly };
  } finally {
    await crm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Print the ingest API figures for `npm run bench`. */
export async function benchServe(options: ServeBenchOptions = {}): Promise<void> {
  const r = await measureServe(options);
  const line = (label: string, run: ServeRun): string =>
    `  ${label.padEnd(30)} ${run.requestsPerSecond.toFixed(0).padStart(5)} req/s  ` +
    `p50 ${run.p50.toFixed(2)} ms  p90 ${run.p90.toFixed(2)} ms  p99 ${run.p99.toFixed(2)} ms  max ${run.max.toFixed(1)} ms` +
    (run.cpuMsPerRequest === null ? '' : `  server CPU ${run.cpuMsPerRequest.toFixed(2)} ms/request`);
  const [load1 = 0] = loadavg();
  console.log(
    `POST /v1/calls, ${r.clients} concurrent clients, ${r.withWorker.requests} requests per run (crm-upload serve in its own process; ` +
      `load average ${load1.toFixed(1)} on ${availableParallelism()} cores at the end):`,
  );
  console.log(line('bare node:http (ceiling)', r.bareHttp));
  console.log(line('ingest only (--no-worker)', r.ingestOnly));
  console.log(line('worker delivering meanwhile', r.withWorker));
  const w = r.withWorker;
  console.log(
    `  the worker delivered ${w.deliveredDuringRun} calls to the local CRM (${r.latencyMs} ms latency, own process) during the run; ` +
      (w.drainSeconds === null ? 'NOT all delivered within 2 min after it' : `the rest within ${w.drainSeconds.toFixed(2)} s after it`),
  );
  console.log(line(`bare node:http at ${r.pacedRate} req/s`, r.bareHttpPaced));
  console.log(line(`bare + SQLite commit at ${r.pacedRate}/s`, r.durableHttpPaced));
  console.log(line(`worker, clients at ${r.pacedRate} req/s`, r.pacedWithWorker));
  console.log(line(`worker process beside, ${r.pacedRate}/s`, r.pacedSplit));
  console.log(line(`--no-worker at ${r.pacedRate} req/s`, r.pacedIngestOnly));
  const ratio = r.pacedWithWorker.p99 / r.bareHttpPaced.p99;
  console.log(
    `  at ${r.pacedRate} req/s offered: serve p50 ${r.pacedWithWorker.p50.toFixed(2)} ms, p99 ${r.pacedWithWorker.p99.toFixed(2)} ms; ` +
      `bare node:http p50 ${r.bareHttpPaced.p50.toFixed(2)} ms, p99 ${r.bareHttpPaced.p99.toFixed(2)} ms; ` +
      `p99 ratio ${ratio.toFixed(2)}× (${ratio <= SERVE_P99_GOAL_RATIO ? 'meets' : 'MISSES'} the ≤ ${SERVE_P99_GOAL_RATIO}× goal)`,
  );
  const durable = r.pacedWithWorker.p99 / r.durableHttpPaced.p99;
  const ingest = r.pacedIngestOnly.p99 / r.durableHttpPaced.p99;
  const split = r.pacedSplit.p99 / r.durableHttpPaced.p99;
  console.log(
    `  beside a bare server that commits each body before answering (p50 ${r.durableHttpPaced.p50.toFixed(2)} ms, p99 ${r.durableHttpPaced.p99.toFixed(2)} ms): ` +
      `serve p99 ${durable.toFixed(2)}× with the worker, ${split.toFixed(2)}× with a worker process beside it, ${ingest.toFixed(2)}× with nothing delivering (${durable <= SERVE_P99_GOAL_RATIO ? 'within' : 'beyond'} ${SERVE_P99_GOAL_RATIO}×)`,
  );
  console.log(`  p99 with the worker: flat out ${w.p99.toFixed(2)} ms (${w.p99 <= 10 ? 'meets' : 'MISSES'} the ≤ 10 ms goal); ` +
    `at ${r.pacedRate} req/s offered ${r.pacedWithWorker.p99.toFixed(2)} ms (${r.pacedWithWorker.p99 <= 10 ? 'meets' : 'MISSES'} it)`);
}

if (import.meta.main) await benchServe();
