/**
 * Calls sent again after a SIGKILL (issue 16): `crm-upload worker` (its own process, CRM_CONCURRENCY=8,
 * pacing off) delivers an outbox of calls to the local CRM (its own process, 20 ms latency) and is killed
 * with SIGKILL at random moments, each after some deliveries, then started again, until every call is
 * delivered. From the CRM's request log, a repeat is a call-data POST of a callId the CRM had already
 * answered 2xx; each repeat is charged to the kill of the run that got that first 2xx (the run whose
 * outcome was lost). Printed per kill, with the most, beside the bound docs/architecture.md derives in
 * "What a crash can repeat": the requests in flight (the concurrency) plus one batch of outcomes not yet
 * committed (64), two batches at worst once the SQLite writer thread commits. Run with
 * CRM_VERIFY_BEFORE_RESEND=auto (the default: an item taken over from an expired lease is uncertain, so
 * the CRM is asked before it is sent again) and =never (sent again without asking). Figures only;
 * nothing is asserted. Run alone with `node bench/sigkill-repeats.ts`.
 *
 * The local CRM never stores a POST whose client went away before the answer time, so a request in
 * flight at the kill is not a repeat here; a real CRM may have stored it (it is within the bound).
 * The outbox lives under `.crm-upload/` in the current directory, the disk the real outbox uses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { NewOutboxItem } from '../src/outbox/outbox-store.ts';
import { openSqliteOutbox } from '../src/outbox/sqlite-outbox-store.ts';
import { mulberry32 } from '../src/local-crm/seeded-random.ts';
import { crmAdmin, spawnLocalCrmProcess, type RequestRecord } from '../test/helpers/local-crm.ts';
import { makePayload } from '../test/helpers/payloads.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const CALL_DATA_PATH = '/apis/api/public/call-data';

/** The outcome batch `src/worker/settle-batch.ts` writes at once when this many are waiting (its `maxBatch` default). */
export const OUTCOME_BATCH = 64;

/** What `measureSigkillRepeats` varies. */
export interface SigkillBenchOptions {
  /** Calls in the outbox (default 1000). */
  calls?: number;
  /** SIGKILLs (default 8). */
  kills?: number;
  /** CRM_CONCURRENCY of the worker (default 8). */
  concurrency?: number;
  /** Latency the local CRM adds to every answer (default 20 ms). */
  latencyMs?: number;
  /** CRM_VERIFY_BEFORE_RESEND of the worker (default auto). */
  verify?: 'auto' | 'always' | 'never';
  /** Seed of the kill moments (default: from the clock; printed, so a run can be repeated). */
  seed?: number;
  /** Folder for the temporary outbox (default: a fresh folder under `./.crm-upload/`). */
  dir?: string;
}

/** One kill and what it cost. */
export interface KillFigures {
  /** Calls the CRM had stored when the process was killed. */
  storedAtKill: number;
  /** Calls the killed run had delivered (CRM 2xx) by then. */
  deliveredByRun: number;
  /** Call-data POSTs, in any later run, of callIds this run had already had answered 2xx. */
  repeats: number;
  /** The killed run's call-data POSTs that got no answer (cut by the kill while the CRM waited). */
  cutInFlight: number;
  /** `GET call-data?callId=…` listings (verify before re-sending) made in the run after this kill. */
  listingsAfter: number;
}

/** The figures `benchSigkillRepeats` prints. */
export interface SigkillBenchResult {
  calls: number;
  concurrency: number;
  latencyMs: number;
  verify: string;
  seed: number;
  kills: KillFigures[];
  maxRepeats: number;
  totalRepeats: number;
  /** Repeats of calls the last run (never killed) had delivered: none are expected. */
  lastRunRepeats: number;
  /** Call-data POSTs in all (calls + repeats + POSTs of requests cut by a kill). */
  posts: number;
  /** concurrency + one outcome batch: the goal and the docs' bound. */
  bound: number;
  /** concurrency + two outcome batches: the docs' worst case once the writer thread commits. */
  worstBound: number;
  /** Calls the CRM holds at the end, and the outbox's counts. */
  stored: number;
  delivered: number;
  dead: number;
  seconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Spawn `crm-upload worker` with `env` (only CRM_* variables of ours; the parent's CRM_* left out). */
function spawnWorker(env: Record<string, string>): { child: ChildProcess; exited: Promise<void>; stderr: () => string } {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRM_')) base[k] = v;
  const child = spawn(process.execPath, [MAIN, 'worker'], { env: { ...base, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c.length + err.length > 20_000 ? '' : c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited, stderr: () => err };
}

/** The run a request belongs to: `starts` holds the CRM's last seq before each run began. */
function runOf(seq: number, starts: readonly number[]): number {
  let run = 0;
  for (let k = 0; k < starts.length; k++) if (seq > (starts[k] ?? 0)) run = k;
  return run;
}

/** Enqueue the calls, then kill and restart the worker until every call is delivered. */
export async function measureSigkillRepeats(options: SigkillBenchOptions = {}): Promise<SigkillBenchResult> {
  const calls = options.calls ?? 1000;
  const killCount = options.kills ?? 8;
  const concurrency = options.concurrency ?? 8;
  const latencyMs = options.latencyMs ?? 20;
  const verify = options.verify ?? 'auto';
  const seed = options.seed ?? Date.now() % 1_000_000;
  // Seeded: the kill moments of a run can be replayed from its seed.
  const random = mulberry32(seed);
  const parent = options.dir ?? join(process.cwd(), '.crm-upload');
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'bench-sigkill-'));
  const dbPath = join(dir, 'outbox.db');
  const crm = await spawnLocalCrmProcess(['--latency-ms', String(latencyMs)]);
  const admin = crmAdmin(crm.url);
  let current: ReturnType<typeof spawnWorker> | null = null;
  try {
    await admin.reset();
    const store = openSqliteOutbox(dbPath);
    try {
      const items: NewOutboxItem[] = Array.from({ length: calls }, (_, k) => {
        const payload = makePayload(k);
        return { callId: payload.callDetails.callId, payload, recordingPath: null };
      });
      await store.enqueueMany(items);
    } finally {
      await store.close();
    }
    const env: Record<string, string> = {
      CRM_OUTBOX: dbPath,
      CRM_API_URL: `${crm.url}${CALL_DATA_PATH}`,
      CRM_UPLOAD_URL: `${crm.url}/apis/api/public/upload`,
      CRM_CONCURRENCY: String(concurrency),
      CRM_RATE_LIMIT: '0',
      // A lease lasts twice the timeout (docs/architecture.md, "Outbox"): a killed run's items come back
      // within 2 s, long enough for a 20 ms CRM, short enough for the benchmark.
      CRM_TIMEOUT_MS: '1s',
      CRM_RETRY_SCHEDULE: '20ms,50ms,100ms',
      // Every takeover of an expired lease may count as an attempt; no call may go dead of the kills.
      CRM_MAX_ATTEMPTS: '100',
      CRM_VERIFY_BEFORE_RESEND: verify,
    };
    // The CRM's last seq before each run started (a run's requests have a greater one).
    const starts: number[] = [];
    const storedAtKill: number[] = [];
    const lastSeq = async (): Promise<number> => (await admin.requests()).reduce((m, r) => Math.max(m, r.seq), 0);
    const t0 = performance.now();
    for (let k = 0; k <= killCount; k++) {
      starts.push(await lastSeq());
      const createdBefore = (await admin.stats()).created;
      current = spawnWorker(env);
      if (k === killCount) break;
      // Each kill after 20–120 new calls stored, then 0–20 ms more: somewhere in a batch of outcomes.
      const target = Math.min(calls, createdBefore + 20 + Math.floor(random() * 100));
      const deadline = performance.now() + 60_000;
      let created = createdBefore;
      while (created < target && performance.now() < deadline && current.child.exitCode === null) {
        await sleep(5);
        created = (await admin.stats()).created;
      }
      await sleep(Math.floor(random() * 20));
      current.child.kill('SIGKILL');
      await current.exited;
      if (current.child.signalCode !== 'SIGKILL') throw new Error(`the worker exited by itself before kill ${k + 1}: ${current.stderr()}`);
      storedAtKill.push((await admin.stats()).created);
      current = null;
    }
    // The last run: left alone until every call is stored and its outcome committed, then stopped gracefully.
    const last = current;
    if (last === null) throw new Error('no last run');
    const deadline = performance.now() + 120_000;
    while ((await admin.stats()).created < calls && performance.now() < deadline) await sleep(50);
    last.child.kill('SIGTERM');
    await last.exited;
    current = null;
    const seconds = (performance.now() - t0) / 1000;

    const check = openSqliteOutbox(dbPath);
    let counts;
    try {
      counts = await check.counts();
    } finally {
      await check.close();
    }
    const records: RequestRecord[] = (await admin.requests()).sort((a, b) => a.seq - b.seq);
    const posts = records.filter((r) => r.method === 'POST' && r.path === CALL_DATA_PATH && r.callId !== null);
    // The run whose POST of a callId was first answered 2xx.
    const firstOk = new Map<string, number>();
    const repeats = Array.from({ length: killCount + 1 }, () => 0);
    const deliveredByRun = Array.from({ length: killCount + 1 }, () => 0);
    // A record's status is set when its answer is written; arrival order is seq order, and a repeat
    // arrives after the first answer (the worker sent it again only after that run was killed).
    for (const r of posts) {
      const run = runOf(r.seq, starts);
      const first = firstOk.get(r.callId as string);
      if (first !== undefined) repeats[first] = (repeats[first] ?? 0) + 1;
      else if (first === undefined && r.status !== null && r.status >= 200 && r.status < 300) {
        firstOk.set(r.callId as string, run);
        deliveredByRun[run] = (deliveredByRun[run] ?? 0) + 1;
      }
    }
    const cut = Array.from({ length: killCount + 1 }, () => 0);
    for (const r of posts) {
      if (r.status !== null) continue;
      const run = runOf(r.seq, starts);
      cut[run] = (cut[run] ?? 0) + 1;
    }
    const listings = Array.from({ length: killCount + 1 }, () => 0);
    for (const r of records) {
      if (r.method !== 'GET' || r.path !== CALL_DATA_PATH) continue;
      const run = runOf(r.seq, starts);
      listings[run] = (listings[run] ?? 0) + 1;
    }
    const kills: KillFigures[] = storedAtKill.map((stored, k) => ({
      storedAtKill: stored,
      deliveredByRun: deliveredByRun[k] ?? 0,
      repeats: repeats[k] ?? 0,
      cutInFlight: cut[k] ?? 0,
      listingsAfter: listings[k + 1] ?? 0,
    }));
    const stats = await admin.stats();
    return {
      calls,
      concurrency,
      latencyMs,
      verify,
      seed,
      kills,
      maxRepeats: Math.max(0, ...kills.map((x) => x.repeats)),
      totalRepeats: kills.reduce((s, x) => s + x.repeats, 0),
      lastRunRepeats: repeats[killCount] ?? 0,
      posts: posts.length,
      bound: concurrency + OUTCOME_BATCH,
      worstBound: concurrency + 2 * OUTCOME_BATCH,
      stored: stats.created,
      delivered: counts.delivered,
      dead: counts.dead,
      seconds,
    };
  } finally {
    if (current !== null) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    await crm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Print the figures of one run. */
function print(r: SigkillBenchResult): void {
  console.log(
    `CRM_VERIFY_BEFORE_RESEND=${r.verify}: ${r.calls} calls, crm-upload worker (own process, concurrency ${r.concurrency}, pacing off), ` +
      `local CRM at ${r.latencyMs} ms (own process), ${r.kills.length} SIGKILLs (seed ${r.seed}), ${r.seconds.toFixed(1)} s:`,
  );
  r.kills.forEach((k, i) =>
    console.log(
      `  kill ${i + 1}: ${String(k.storedAtKill).padStart(5)} stored at the kill, its run delivered ${String(k.deliveredByRun).padStart(4)}; ` +
        `${String(k.cutInFlight).padStart(2)} POSTs cut in flight; calls sent again: ${String(k.repeats).padStart(3)}; listings (verify) in the next run: ${k.listingsAfter}`,
    ),
  );
  console.log(
    `  repeats: max ${r.maxRepeats} per kill, ${r.totalRepeats} in all (${r.posts} call-data POSTs for ${r.calls} calls); ` +
      `bound concurrency + one outcome batch = ${r.concurrency} + ${OUTCOME_BATCH} = ${r.bound} (${r.maxRepeats <= r.bound ? 'within' : 'OVER'}), ` +
      `docs' worst case with the writer thread ${r.worstBound}`,
  );
  if (r.lastRunRepeats > 0) console.log(`  UNEXPECTED: ${r.lastRunRepeats} repeats of calls the last run (never killed) had delivered`);
  console.log(`  at the end: the CRM holds ${r.stored} calls; the outbox has ${r.delivered} delivered, ${r.dead} dead`);
}

/** Print the repeat figures for `npm run bench`: with verify before re-sending (auto), then without (never). */
export async function benchSigkillRepeats(options: SigkillBenchOptions = {}): Promise<void> {
  print(await measureSigkillRepeats({ ...options, verify: options.verify ?? 'auto' }));
  if (options.verify === undefined) print(await measureSigkillRepeats({ ...options, verify: 'never' }));
}

if (import.meta.main) await benchSigkillRepeats();
