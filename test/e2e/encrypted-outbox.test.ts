/**
 * `CRM_OUTBOX_KEY` through the real CLI (issue 15; docs/architecture.md, "Stores" → "Payload encryption"):
 * `bulk` with a key delivers exactly the payloads a dry run builds, contract-valid, while the outbox file
 * holds none of their text; without the key (or with the wrong one) `status`, `dead-letter list` and the
 * dashboard's API fail with E_OUTBOX_KEY naming the key id; `rekey` rotates to a new key with exact counts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { startDashboard } from '../../src/dashboard/server.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { createPayloadCipher, keyIdOf } from '../../src/outbox/payload-cipher.ts';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import { crmAdmin, withCrm } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { sampleItem } from '../outbox/sample-item.ts';
import { generateCalls } from './generate-calls.ts';
import { cliEnv, lastJson, removeTempDirs, runCli, stdoutLines, tempDir } from './run-cli.ts';

after(removeTempDirs);

const KEY_A = Buffer.alloc(32, 0x5a).toString('base64');
const KEY_B = Buffer.alloc(32, 0x6b).toString('hex');
const KID_A = keyIdOf(Buffer.alloc(32, 0x5a));
const KID_B = keyIdOf(Buffer.alloc(32, 0x6b));
const N = 12;

test('bulk with CRM_OUTBOX_KEY delivers exactly the dry run\'s payloads, contract-valid; the outbox file holds none of their text', async () => {
  const set = generateCalls(tempDir('crm-e2e-enc-'), { count: N, recordingEvery: 0 });
  const args = ['bulk', set.conversationsDir, '--leads', set.leadsDir, '--no-progress'];
  await withCrm({}, async (crm) => {
    const env = cliEnv(crm.callDataUrl, { CRM_OUTBOX_KEY: KEY_A });
    const dry = await runCli([...args, '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    const expected = stdoutLines(dry).map((l) => JSON.parse(l) as CallPayload);
    assert.equal(expected.length, N);

    const run = await runCli([...args, '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(lastJson<{ success: number }>(run).success, N);
    const byId = (a: CallPayload, b: CallPayload): number => a.callDetails.callId.localeCompare(b.callDetails.callId);
    const received = (await crmAdmin(crm.url).calls()).sort(byId);
    for (const p of received) assertValidPayload(p);
    assert.deepEqual(received, expected.sort(byId), 'the CRM holds exactly the payloads built');
    assert.equal((await crmAdmin(crm.url).stats()).callDataPosts, N);

    const file = env.CRM_OUTBOX as string;
    for (const path of [file, `${file}-wal`].filter((p) => existsSync(p))) {
      const bytes = readFileSync(path);
      for (const c of set.calls) {
        assert.equal(bytes.indexOf(`This is call ${c.index}.`), -1, `${path}: transcript of ${c.callId}`);
        assert.equal(bytes.indexOf(c.leadEmail), -1, `${path}: email of ${c.callId}`);
      }
    }
    const status = await runCli(['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(lastJson<{ delivered: number }>(status).delivered, N);
    // The same outbox without its key: a clear error naming the key, exit 2.
    const keyless = await runCli(['status'], { ...env, CRM_OUTBOX_KEY: undefined });
    assert.equal(keyless.code, 2, keyless.stderr);
    assert.match(keyless.stderr, new RegExp(`E_OUTBOX_KEY|key ${KID_A}`));
    assert.match(keyless.stderr, new RegExp(KID_A));
  });
});

test('missing or wrong key: status, dead-letter list and the dashboard API fail naming the key id; rotation with rekey', async () => {
  const file = join(tempDir('crm-e2e-enc-'), 'outbox.db');
  const store = openSqliteOutbox(file, { cipher: createPayloadCipher({ key: KEY_A }) });
  await store.enqueueMany([sampleItem('key-dead'), sampleItem('key-pending')]);
  const leased = await store.lease({ limit: 1, leaseMs: 60_000, owner: 'w' });
  assert.deepEqual(leased.map((i) => i.callId), ['key-dead']);
  await store.settle('w', [{ callId: 'key-dead', kind: 'dead', status: 400, error: 'HTTP 400 refused', countAttempt: true }]);
  await store.close();
  const env = (keys: Record<string, string | undefined>) => cliEnv('http://127.0.0.1:9/unused/call-data', { CRM_OUTBOX: file, ...keys });

  for (const keys of [{}, { CRM_OUTBOX_KEY: KEY_B }]) {
    for (const args of [['status'], ['dead-letter', 'list', '--json']]) {
      const r = await runCli(args, env(keys));
      assert.equal(r.code, 2, `${args.join(' ')} ${JSON.stringify(Object.keys(keys))}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`encrypted with key ${KID_A}, which is not configured`));
      assert.equal(stdoutLines(r).length, 0, 'nothing listed: no silent skip');
    }
  }
  const rotated = env({ CRM_OUTBOX_KEY: KEY_B, CRM_OUTBOX_OLD_KEYS: `${KEY_A}` });
  const list = await runCli(['dead-letter', 'list', '--json'], rotated);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /key-dead/);

  // The dashboard API, no key: the call's JSON is a clear error naming the key, not a bare 500.
  const dash = await startDashboard({ config: loadConfig({ env: { CRM_OUTBOX: file }, envFile: null }), port: 0, sampleMs: 60_000, readEveryMs: 0 });
  try {
    const res = await fetch(`${dash.url}/api/calls/key-dead`);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(res.status, 500);
    assert.equal(body.code, 'E_OUTBOX_KEY');
    assert.match(body.message, new RegExp(`key ${KID_A}`));
  } finally {
    await dash.close();
  }

  const dry = await runCli(['rekey', '--dry-run', '--json'], rotated);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(lastJson(dry), { kid: KID_B, dryRun: true, scanned: 2, current: 0, rewritten: 2, fromPlain: 0, fromKeys: { [KID_A]: 2 }, skipped: 0 });
  const done = await runCli(['rekey', '--json'], rotated);
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(lastJson(done), { kid: KID_B, dryRun: false, scanned: 2, current: 0, rewritten: 2, fromPlain: 0, fromKeys: { [KID_A]: 2 }, skipped: 0 });
  assert.match(done.stderr, new RegExp(`scanned 2 · already under ${KID_B} 0 · rewritten 2 \\(${KID_A} 2\\) · skipped 0`));
  // A removed: B alone reads everything.
  const bOnly = await runCli(['status', '--json'], env({ CRM_OUTBOX_KEY: KEY_B }));
  assert.equal(bOnly.code, 0, bOnly.stderr);
  assert.deepEqual(lastJson<{ pending: number; dead: number }>(bOnly).dead, 1);
  const again = await runCli(['rekey', '--json'], env({ CRM_OUTBOX_KEY: KEY_B }));
  assert.equal(lastJson<{ current: number; rewritten: number }>(again).current, 2);
  // rekey without a key to write under is a usage error.
  const none = await runCli(['rekey'], env({}));
  assert.equal(none.code, 2);
  assert.match(none.stderr, /rekey needs CRM_OUTBOX_KEY/);
  // A malformed key stops every command at start, naming the variable and not the value.
  const bad = await runCli(['status'], env({ CRM_OUTBOX_KEY: 'not-a-key-at-all' }));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /CRM_OUTBOX_KEY must be 32 bytes/);
  assert.doesNotMatch(bad.stderr, /not-a-key-at-all/);
});
