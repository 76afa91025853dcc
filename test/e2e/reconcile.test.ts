/**
 * `crm-upload reconcile` end to end: the real CLI against the local CRM and a SQLite outbox whose calls
 * a real worker delivered. Exit 0 when the CRM holds exactly what was delivered; a call deleted from
 * the CRM behind the tool's back, one added and one altered give exit 1 with the exact lists (`--json`
 * on stdout only, or the people's report on stderr); `--requeue` then `worker --once` put the missing
 * call back; bad flags exit 2.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import type { ReconcileReport } from '../../src/reconcile/reconcile.ts';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { deliverOnce, testItem } from '../dashboard/fixture.ts';
import { removeTempDirs, runCli, tempDir } from './run-cli.ts';

const idOf = (i: number): string => makePayload(i).callDetails.callId;

describe('reconcile (CLI)', () => {
  let crm: LocalCrm;
  let env: Record<string, string>;

  before(async () => {
    crm = await startTestCrm();
    const dbPath = join(tempDir('crm-reconcile-'), 'outbox.db');
    const store = openSqliteOutbox(dbPath);
    await store.enqueueMany([0, 1, 2, 3].map((k) => testItem(1200 + k)));
    const s = await deliverOnce(store, crm);
    assert.equal(s.delivered, 4);
    await store.close();
    env = {
      CRM_API_URL: crm.callDataUrl,
      CRM_OUTBOX: dbPath,
      CRM_CAMPAIGN_ID: 'camp-test',
      CRM_VOICE_AGENT_ID: 'agent-test',
      CRM_SOURCE_TIMEZONE: 'UTC',
      CRM_RATE_LIMIT: '0',
      LOG_LEVEL: 'warn',
    };
  });
  after(async () => {
    await crm.close();
    removeTempDirs();
  });

  test('everything there: exit 0, one JSON object on stdout', async () => {
    const r = await runCli(['reconcile', '--json', '--since', '2025-10-29', '--until', '2025-10-29'], env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as ReconcileReport;
    assert.deepEqual(
      { ...report, crmPages: 1 },
      {
        since: '2025-10-29T00:00:00.000Z',
        until: '2025-10-29T23:59:59.999Z',
        campaignId: 'camp-test',
        voiceAgentId: 'agent-test',
        outbox: 4,
        crm: 4,
        matched: 4,
        missingInCrm: [],
        unknownHere: [],
        hashMismatch: [],
        duplicates: [],
        requeued: 0,
        crmPages: 1,
      },
    );
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const filtered = (await crmAdmin(crm.url).requests()).filter((req) => req.method === 'GET').at(-1);
    assert.match(filtered?.query ?? '', /campaignId=camp-test/);
    assert.match(filtered?.query ?? '', /startDate=2025-10-29T00%3A00%3A00.000Z/);
  });

  test('deleted, added and altered behind the tool’s back: exit 1 with the exact lists; --requeue, worker, exit 0 again', async () => {
    const admin = crmAdmin(crm.url);
    assert.equal(await admin.deleteCall(idOf(1201)), true);
    await admin.insertCall(makePayload(1250));
    await admin.insertCall(makePayload(1203, { client: 'someone-else' }));

    const j = await runCli(['reconcile', '--json', '--page-size', '2'], env);
    assert.equal(j.code, 1, j.stderr);
    const report = JSON.parse(j.stdout) as ReconcileReport;
    assert.deepEqual(
      {
        missing: report.missingInCrm.map((m) => m.callId),
        unknown: report.unknownHere.map((u) => [u.callId, u.state]),
        mismatch: report.hashMismatch.map((m) => m.callId),
        pages: report.crmPages,
        matched: report.matched,
      },
      { missing: [idOf(1201)], unknown: [[idOf(1250), null]], mismatch: [idOf(1203)], pages: 2, matched: 2 },
    );

    const human = await runCli(['reconcile', '--requeue'], env);
    assert.equal(human.code, 1);
    assert.equal(human.stdout, '');
    assert.match(human.stderr, /4 delivered here, 4 in the CRM, 2 identical/);
    assert.match(human.stderr, new RegExp(`delivered here, missing in the CRM \\(1\\):\\n  ${idOf(1201)}`));
    assert.match(human.stderr, new RegExp(`${idOf(1250)} .*\\(not in the outbox\\)`));
    assert.match(human.stderr, /in both, with a different payload \(1\)/);
    assert.match(human.stderr, /requeued 1 call/);

    const worker = await runCli(['worker', '--once'], env);
    assert.equal(worker.code, 0, worker.stderr);
    assert.match(worker.stderr, /worker: 1 delivered/);
    assert.equal((await admin.calls()).filter((p) => p.callDetails.callId === idOf(1201)).length, 1);

    // Put the CRM back as it was: nothing left to report.
    await admin.deleteCall(idOf(1250));
    await admin.insertCall(makePayload(1203));
    const clean = await runCli(['reconcile'], env);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stderr, /the CRM holds exactly what was delivered/);
  });

  test('a call the CRM holds twice (it ignored Idempotency-Key): exit 1, listed under duplicates in --json and in the report', async () => {
    const admin = crmAdmin(crm.url);
    await admin.faults({ ignoreIdempotency: true });
    const again = await fetch(crm.callDataUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'repeat' }, body: JSON.stringify(makePayload(1202)) });
    assert.equal(again.status, 201);
    await admin.faults({ ignoreIdempotency: false });

    const j = await runCli(['reconcile', '--json', '--page-size', '3'], env);
    assert.equal(j.code, 1, j.stderr);
    const report = JSON.parse(j.stdout) as ReconcileReport;
    assert.deepEqual(report.duplicates, [{ callId: idOf(1202), startTime: makePayload(1202).callDetails.startTime, count: 2 }]);
    assert.deepEqual([report.crm, report.matched, report.missingInCrm, report.unknownHere, report.hashMismatch], [4, 4, [], [], []]);

    const human = await runCli(['reconcile'], env);
    assert.equal(human.code, 1);
    assert.match(human.stderr, new RegExp(`held more than once by the CRM \\(duplicates to remove there\\) \\(1\\):\\n  ${idOf(1202)}  started \\S+  ×2`));
    assert.doesNotMatch(human.stderr, /the CRM holds exactly what was delivered/);

    // Removing the call (both copies) and putting one back leaves nothing to report.
    await admin.deleteCall(idOf(1202));
    await admin.insertCall(makePayload(1202));
    assert.equal((await runCli(['reconcile'], env)).code, 0);
  });

  test('usage errors exit 2', async () => {
    for (const args of [
      ['reconcile', '--since', 'yesterday-ish'],
      ['reconcile', '--since', '2025-10-30', '--until', '2025-10-29'],
      ['reconcile', '--page-size', '0'],
    ]) {
      const r = await runCli(args, env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
    const unreachable = await runCli(['reconcile', '--json'], { ...env, CRM_API_URL: 'http://127.0.0.1:1/apis/api/public/call-data' });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /E_RECONCILE_CRM/);
    assert.equal(unreachable.stdout, '');
  });
});
