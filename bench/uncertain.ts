/**
 * The cost of "Verify before re-sending" (issue 19; docs/architecture.md, "Delivery" → "Verify before
 * re-sending"), counted at the local CRM rather than timed: the requests it received per call.
 *
 * - nothing uncertain: one POST per call and no listing at all (the check costs nothing);
 * - 5% of answers lost, against a CRM that ignores Idempotency-Key: one listing per lost answer, no
 *   second POST, no duplicate;
 * - the same with `CRM_VERIFY_BEFORE_RESEND=never`: no listing, and a duplicate per lost answer.
 *
 * Calls per second are printed beside, for scale only. Run alone with `node bench/uncertain.ts`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { VerifyBeforeResend } from '../src/config/config.ts';
import { createHttpCrmClient } from '../src/crm/http-crm-client.ts';
import type { NewOutboxItem } from '../src/outbox/outbox-store.ts';
import { openSqliteOutbox } from '../src/outbox/sqlite-outbox-store.ts';
import { startWorker, type WorkerConfig } from '../src/worker/worker.ts';
import { crmAdmin, spawnLocalCrmProcess, type LocalCrmProcess } from '../test/helpers/local-crm.ts';
import { makePayload } from '../test/helpers/payloads.ts';

const CALL_DATA = '/apis/api/public/call-data';

/** What one run received and stored. */
export interface UncertainRun {
  label: string;
  calls: number;
  posts: number;
  gets: number;
  lostAnswers: number;
  records: number;
  duplicates: number;
  callsPerSecond: number;
}

async function run(crm: LocalCrmProcess, dir: string, label: string, calls: number, lostAnswerRate: number, mode: VerifyBeforeResend, first: number): Promise<UncertainRun> {
  const admin = crmAdmin(crm.url);
  await admin.reset();
  await admin.faults({ ignoreIdempotency: true, lostAnswerRate });
  const store = openSqliteOutbox(join(dir, `${label.replace(/\W+/g, '-')}.db`));
  const client = createHttpCrmClient({ apiUrl: `${crm.url}${CALL_DATA}`, uploadUrl: `${crm.url}/apis/api/public/upload`, timeoutMs: 2_000 });
  const config: WorkerConfig = { timeoutMs: 2_000, rateLimit: 0, concurrency: 16, maxAttempts: 10, retryScheduleMs: [20, 50, 100], recordingWaitMs: 0, verifyBeforeResend: mode };
  try {
    const items: NewOutboxItem[] = Array.from({ length: calls }, (_, k) => {
      const payload = makePayload(first + k);
      return { callId: payload.callDetails.callId, payload, recordingPath: null, sourceFile: null };
    });
    await store.enqueueMany(items);
    const t0 = performance.now();
    await startWorker({ store, client, config, idleExit: true }).done;
    const seconds = (performance.now() - t0) / 1000;
    const requests = await admin.requests();
    const stats = await admin.stats();
    const duplicates = (await (await fetch(`${crm.url}/__admin/duplicates`)).json()) as { count: number }[];
    return {
      label,
      calls,
      posts: requests.filter((r) => r.method === 'POST' && r.path === CALL_DATA).length,
      gets: requests.filter((r) => r.method === 'GET' && r.path === CALL_DATA).length,
      lostAnswers: stats.faults.lostAnswer,
      records: (await admin.calls()).length,
      duplicates: duplicates.reduce((n, d) => n + d.count - 1, 0),
      callsPerSecond: calls / seconds,
    };
  } finally {
    await client.close();
    await store.close();
  }
}

/** The three runs. */
export async function measureUncertain(calls = 1_000): Promise<UncertainRun[]> {
  mkdirSync('.crm-upload', { recursive: true });
  const dir = mkdtempSync(join('.crm-upload', 'bench-uncertain-'));
  const crm = await spawnLocalCrmProcess(['--latency-ms', '5', '--seed', '19']);
  try {
    return [
      await run(crm, dir, 'nothing uncertain (auto)', calls, 0, 'auto', 0),
      await run(crm, dir, '5% answers lost (auto)', calls, 0.05, 'auto', calls),
      await run(crm, dir, '5% answers lost (never)', calls, 0.05, 'never', 2 * calls),
    ];
  } finally {
    await crm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Print the runs. */
export async function benchUncertain(): Promise<void> {
  for (const r of await measureUncertain()) {
    console.log(
      `${r.label.padEnd(26)} ${r.calls} calls: POST ${r.posts} (${(r.posts / r.calls).toFixed(3)}/call), GET ${r.gets}, ` +
        `answers lost ${r.lostAnswers}, records ${r.records}, duplicates ${r.duplicates}; ${r.callsPerSecond.toFixed(0)} calls/s`,
    );
  }
}

if (import.meta.main) await benchUncertain();
