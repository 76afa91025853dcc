/**
 * Distributed delivery benchmark (issue 7, "Done when"): calls per second delivered by 1 and by 3
 * `crm-upload worker` processes sharing one BullMQ queue, against the local CRM (its own process) at
 * 20 ms latency with no rate limit, beside one worker process on the SQLite outbox, measured the same
 * way in the same run. Workers are started and on the queue before the calls are enqueued, so start-up
 * is not in the figures. Run alone with `node bench/bullmq.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { openBullmqOutbox } from '../src/outbox/bullmq-store.ts';
import type { NewOutboxItem, OutboxStore } from '../src/outbox/outbox-store.ts';
import { openSqliteOutbox } from '../src/outbox/sqlite-outbox-store.ts';
import { spawnLocalCrmProcess, type LocalCrmProcess } from '../test/helpers/local-crm.ts';
import { makePayload } from '../test/helpers/payloads.ts';
import { dropPrefix, redisAnswers, redisOutboxUrl, REDIS_URL } from '../test/helpers/redis.ts';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const CALLS = 3000;
const CONCURRENCY = 16;
const LATENCY_MS = 20;

interface Run {
  label: string;
  callsPerSecond: number;
  seconds: number;
}

function items(count: number, first: number): NewOutboxItem[] {
  return Array.from({ length: count }, (_, k) => {
    const payload = makePayload(first + k);
    return { callId: payload.callDetails.callId, payload, recordingPath: null, sourceFile: null };
  });
}

function startWorker(outbox: string, crm: LocalCrmProcess): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker'], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: {
      ...process.env,
      CRM_OUTBOX: outbox,
      CRM_API_URL: `${crm.url}/apis/api/public/call-data`,
      CRM_UPLOAD_URL: `${crm.url}/apis/api/public/upload`,
      CRM_RATE_LIMIT: '0',
      CRM_CONCURRENCY: String(CONCURRENCY),
      CRM_TIMEOUT_MS: '10s',
      LOG_LEVEL: 'error',
    },
  });
}

/**
 * Time `workers` worker processes delivering `CALLS` calls from `store`. With `gate` (BullMQ) the calls
 * are enqueued while the queue is paused and the clock starts at the resume; without (SQLite, where an
 * enqueue of 3,000 calls takes milliseconds) they are enqueued once the worker is up.
 */
async function measure(
  label: string,
  store: OutboxStore,
  outbox: string,
  workers: number,
  crm: LocalCrmProcess,
  first: number,
  ready: () => Promise<boolean>,
  gate?: { pause: () => Promise<void>; resume: () => Promise<void> },
): Promise<Run> {
  const children = Array.from({ length: workers }, () => startWorker(outbox, crm));
  try {
    const deadline = Date.now() + 30_000;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`${label}: workers did not start`);
      await sleep(50);
    }
    const list = items(CALLS, first);
    const enqueue = async (): Promise<void> => {
      for (let i = 0; i < list.length; i += 500) await store.enqueueMany(list.slice(i, i + 500));
    };
    let t0: number;
    if (gate) {
      await gate.pause();
      await enqueue();
      t0 = performance.now();
      await gate.resume();
    } else {
      t0 = performance.now();
      await enqueue();
    }
    while ((await store.counts()).delivered < CALLS) await sleep(10);
    const seconds = (performance.now() - t0) / 1000;
    return { label, seconds, callsPerSecond: CALLS / seconds };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(null)))));
  }
}

/** Print the figures for `npm run bench`. */
export async function benchBullmq(): Promise<void> {
  if (!(await redisAnswers())) {
    console.log(`skipped: no Redis at ${REDIS_URL} (start redis-server or set REDIS_URL)`);
    return;
  }
  const crm = await spawnLocalCrmProcess(['--latency-ms', String(LATENCY_MS)]);
  const dir = mkdtempSync(join(tmpdir(), 'crm-bench-bullmq-'));
  const runs: Run[] = [];
  try {
    // SQLite: one worker process on a file; it is "ready" once it has opened the outbox (a moment).
    const dbPath = join(dir, 'outbox.db');
    const sqlite = openSqliteOutbox(dbPath);
    const started = Date.now();
    runs.push(await measure('SQLite, 1 worker', sqlite, dbPath, 1, crm, 0, async () => Date.now() - started > 1_500));
    await sqlite.close();
    for (const [n, first] of [[1, 100_000], [3, 200_000]] as const) {
      const { url, prefix } = redisOutboxUrl('bench');
      const store = await openBullmqOutbox(url, { warn: () => undefined });
      try {
        runs.push(await measure(`BullMQ, ${n} worker${n > 1 ? 's' : ''}`, store, url, n, crm, first, async () => (await store.workers()) >= n, store));
      } finally {
        await store.close();
        await dropPrefix(prefix);
      }
    }
  } finally {
    await crm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const base = runs[0]?.callsPerSecond ?? 1;
  console.log(`delivery by worker processes, local CRM at ${LATENCY_MS} ms latency, rate limit off, concurrency ${CONCURRENCY} each, ${CALLS} calls:`);
  for (const r of runs) {
    console.log(`  ${r.label.padEnd(20)} ${r.callsPerSecond.toFixed(0).padStart(5)} calls/s (${r.seconds.toFixed(2)} s)  ${(r.callsPerSecond / base).toFixed(2)}× SQLite`);
  }
  console.log('  (3 workers and the CRM share this machine\'s 2 cores: more hosts scale further)');
}

if (import.meta.main) await benchBullmq();
