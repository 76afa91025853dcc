/**
 * Chaos scenario 5 (issue 17): the wall clock steps an hour forward, then back, then another hour back,
 * while a worker process delivers (its `Date` shifted by test/chaos/fake-clock.ts; the system clock is
 * not touched). No call is delivered by two attempts at once (its own leases looking expired after the
 * forward step must not start a second delivery), none is stuck (a step back must not leave items or the
 * worker's next lease an hour away: src/time/steady-clock.ts), and every call is delivered once, with
 * one repeat only for the calls the CRM refused once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { cliEnv, DELIVER_CHILD, spawnNode } from '../worker/child.ts';
import { items, tempDir } from '../worker/harness.ts';
import { assertCrmSide, assertOutboxSettled, CALL_DATA_PATH, CHAOS_FULL, groupBy } from './harness.ts';

const CALLS = CHAOS_FULL ? 400 : 80;
const HOUR = 3_600_000;
const LATENCY_MS = 150;
const FAKE_CLOCK = pathToFileURL(new URL('./fake-clock.ts', import.meta.url).pathname).href;

test('the wall clock steps an hour forward and back mid-run: nothing delivered twice at once, nothing stuck', { timeout: 120_000 }, async (t) => {
  const crm = await startTestCrm({ latencyMs: LATENCY_MS });
  const { dir, cleanup } = tempDir('crm-chaos-time-');
  t.after(async () => {
    await crm.close();
    cleanup();
  });
  const admin = crmAdmin(crm.url);
  const list = items(CALLS);
  // A few calls refused once: their retry waits run across the steps.
  const refused = list.filter((_, i) => i % 10 === 3).map((i) => i.callId);
  await admin.faults({ forceStatus: refused.map((callId) => ({ status: 503, count: 1, callId })) });

  const clockFile = join(dir, 'clock-offset');
  writeFileSync(clockFile, '0');
  const dbPath = join(dir, 'outbox.db');
  const env = cliEnv(dbPath, crm.url, {
    // Long enough that a machine busy with other tests never times a 150 ms answer out: a timeout is a
    // repeat of its own, not one a clock step caused.
    CRM_TIMEOUT_MS: '5s',
    CRM_CONCURRENCY: '4',
    CRM_MAX_ATTEMPTS: '20',
    CRM_RETRY_SCHEDULE: '200ms,400ms',
    CRM_CHAOS_CLOCK_FILE: clockFile,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${FAKE_CLOCK}`.trim(),
  });
  const child = spawnNode(DELIVER_CHILD, [String(CALLS)], env);
  t.after(() => child.child.kill('SIGKILL'));

  const posts = async (): Promise<number> => (await admin.stats()).callDataPosts;
  const steps: [number, number][] = [
    [Math.floor(CALLS * 0.2), HOUR],
    [Math.floor(CALLS * 0.45), 0],
    [Math.floor(CALLS * 0.7), -HOUR],
  ];
  for (const [after, offset] of steps) {
    await waitFor(`${after} POSTs before the step to ${offset} ms`, async () => (await posts()) >= after, 60_000);
    writeFileSync(clockFile, String(offset));
  }
  const { code } = await child.exited;
  assert.equal(code, 0, `the worker did not finish: ${child.stdout()} ${child.stderr()}`);
  assert.match(child.stdout(), new RegExp(`^done \\{"delivered":${CALLS},"dead":0,"pending":0\\}$`, 'm'));

  const report = await assertCrmSide(admin, list.map((i) => i.payload), { maxPostsPerCall: 2 });
  // Only the refused calls went twice: a step of the clock sent nothing again.
  assert.deepEqual(
    [...report.postsPerCall].filter(([, n]) => n > 1).map(([id]) => id).sort(),
    [...refused].sort(),
  );
  // Never two attempts of a call at once: each answer takes LATENCY_MS, and the next attempt follows it.
  const byCall = groupBy((await admin.requests()).filter((r) => r.path === CALL_DATA_PATH), (r) => r.callId);
  for (const [callId, records] of byCall) {
    for (let i = 1; i < records.length; i++) {
      const gap = Date.parse(records[i]!.time) - Date.parse(records[i - 1]!.time);
      assert.ok(gap >= LATENCY_MS, `${callId}: two POSTs ${gap} ms apart, overlapping`);
    }
  }
  const store = openSqliteOutbox(dbPath);
  t.after(() => store.close());
  await assertOutboxSettled(store, { delivered: CALLS });
  t.diagnostic(`${report.posts} POSTs for ${CALLS} calls, ${refused.length} refused once; clock steps after ${steps.map(([n]) => n).join(', ')} POSTs`);
});
