/**
 * `crm-upload doctor` end to end: the real CLI against the real local CRM, a real SQLite outbox and the
 * test Redis. A sound setup gives only ✓ (and - for what does not apply) and exit 0; a broken one a ✗
 * line with its fix for each problem and exit 1; a usage error exit 2.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { CheckResult, CheckStatus } from '../../src/doctor/check.ts';
import { withCrm } from '../helpers/local-crm.ts';
import { REDIS_URL, redisOutboxUrl, redisSkipReason } from '../helpers/redis.ts';
import { cliEnv, lastJson, removeTempDirs, runCli, stdoutLines, tempDir } from './run-cli.ts';

after(removeTempDirs);

const TOKEN = 'k'.repeat(43);

/** A port nothing listens on: taken from the system, then given back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The status of each check, by id. */
function statuses(checks: readonly CheckResult[]): Record<string, CheckStatus> {
  return Object.fromEntries(checks.map((c) => [c.id, c.status]));
}

/** The one stdout line that starts with `mark title:`. */
function line(stdout: string, mark: string, title: string): string {
  const found = stdout.split('\n').filter((l) => l.startsWith(`${mark} ${title}:`));
  assert.equal(found.length, 1, `one "${mark} ${title}:" line in:\n${stdout}`);
  return found[0] as string;
}

test('a sound setup against the local CRM: every check ✓ (TLS - on loopback), exit 0; --json says the same', async () => {
  await withCrm({}, async (crm) => {
    const dir = tempDir('crm-e2e-doctor-');
    const folders = { CRM_CONVERSATIONS_DIR: join(dir, 'conversations'), CRM_LEADS_DIR: join(dir, 'leads') };
    for (const d of Object.values(folders)) mkdirSync(d);
    const env = cliEnv(crm.callDataUrl, { ...folders, CRM_INGEST_TOKEN: TOKEN, CRM_DASHBOARD_TOKEN: TOKEN });
    // An outbox made by a real command, then readable by its owner only.
    assert.equal((await runCli(['status'], env)).code, 0);
    chmodSync(env.CRM_OUTBOX as string, 0o600);

    const r = await runCli(['doctor'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = stdoutLines(r);
    assert.equal(lines.length, 14, r.stdout);
    assert.deepEqual(lines.filter((l) => !l.startsWith('✓ ')), ['- TLS: http on loopback: no certificate to check', '- outbox key: CRM_OUTBOX_KEY is not set: payloads are stored in the clear (README, "Security")']);
    assert.match(line(r.stdout, '✓', 'CRM answers'), /GET http:\/\/127\.0\.0\.1:\d+\/apis\/api\/public\/call-data\?limit=1 answered 200/);
    assert.match(line(r.stdout, '✓', 'clock'), /the CRM by [01] s/);
    assert.match(line(r.stdout, '✓', 'outbox file mode'), /^✓ outbox file mode: 600/);
    assert.equal((await crm.state.store.calls()).length, 0, 'the doctor created nothing in the CRM');

    const j = await runCli(['doctor', '--json'], env);
    assert.equal(j.code, 0, j.stderr);
    assert.equal(stdoutLines(j).length, 1, 'one JSON line only');
    const report = lastJson<{ ok: boolean; checks: CheckResult[] }>(j);
    assert.equal(report.ok, true);
    assert.deepEqual(statuses(report.checks), {
      ids: 'ok',
      'url.CRM_API_URL': 'ok',
      'url.CRM_UPLOAD_URL': 'ok',
      'crm.answer': 'ok',
      'crm.tls': 'skip',
      'crm.clock': 'ok',
      'outbox.open': 'ok',
      'outbox.writable': 'ok',
      'outbox.mode': 'ok',
      'outbox.key': 'skip',
      'folder.CRM_CONVERSATIONS_DIR': 'ok',
      'folder.CRM_LEADS_DIR': 'ok',
      'token.CRM_INGEST_TOKEN': 'ok',
      'token.CRM_DASHBOARD_TOKEN': 'ok',
    });
    for (const c of report.checks) {
      assert.deepEqual(Object.keys(c).sort(), ['detail', 'id', 'status', 'title'], `${c.id}: no fix on a passing check`);
      assert.equal(typeof c.detail, 'string');
    }
  });
});

test('a broken configuration: missing ids, http off loopback, unreachable CRM, missing folder, short token, outbox readable by all: each ✗ with its fix, exit 1', async () => {
  const port = await closedPort();
  const dir = tempDir('crm-e2e-doctor-bad-');
  const env = cliEnv(`http://127.0.0.1:${port}/apis/api/public/call-data`, {
    CRM_CAMPAIGN_ID: undefined,
    CRM_CLIENT_ID: '',
    CRM_UPLOAD_URL: 'http://crm.example.com/apis/api/public/upload',
    CRM_LEADS_DIR: join(dir, 'no-such-folder'),
    CRM_INGEST_TOKEN: 'short-token',
  });
  // (status refuses plain http to another machine since issue 15: the outbox is made without that URL.)
  assert.equal((await runCli(['status'], { ...env, CRM_UPLOAD_URL: undefined })).code, 0);
  chmodSync(env.CRM_OUTBOX as string, 0o644);

  const r = await runCli(['doctor'], env);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(line(r.stdout, '✗', 'required ids'), /CRM_CAMPAIGN_ID, CRM_CLIENT_ID not set.* — fix: set CRM_CAMPAIGN_ID, CRM_CLIENT_ID in \.env or the environment/);
  assert.match(line(r.stdout, '✗', 'CRM_UPLOAD_URL'), /plain http to another machine.* — fix: use https:\/\/crm\.example\.com\/apis\/api\/public\/upload \(or, knowingly, CRM_ALLOW_INSECURE=1\)$/);
  assert.match(line(r.stdout, '✗', 'CRM answers'), new RegExp(`127\\.0\\.0\\.1:${port}.*failed: .*ECONNREFUSED.* — fix: check CRM_API_URL`));
  assert.match(line(r.stdout, '-', 'clock'), /not checked: the CRM did not answer/);
  assert.match(line(r.stdout, '✗', 'CRM_LEADS_DIR'), /no-such-folder does not exist — fix: create it \(mkdir -p .*no-such-folder\) or correct CRM_LEADS_DIR/);
  assert.match(line(r.stdout, '✗', 'CRM_INGEST_TOKEN'), /11 characters, fewer than 32 — fix: .*openssl rand -base64 32/);
  assert.match(line(r.stdout, '!', 'outbox file mode'), /644: readable by its group and every user.* — fix: chmod 600 /);
  assert.doesNotMatch(r.stdout, /short-token/, 'the token is never printed');

  const j = lastJson<{ ok: boolean; checks: CheckResult[] }>(await runCli(['doctor', '--json'], env));
  assert.equal(j.ok, false);
  const fails = j.checks.filter((c) => c.status === 'fail');
  assert.deepEqual(fails.map((c) => c.id), ['ids', 'url.CRM_UPLOAD_URL', 'crm.answer', 'folder.CRM_LEADS_DIR', 'token.CRM_INGEST_TOKEN']);
  for (const c of fails) assert.ok(c.fix, `${c.id} has a fix`);
});

test('plain http to another host is never contacted: the CRM checks are skipped until the URL is fixed', async () => {
  const r = await runCli(['doctor'], cliEnv('http://crm.example.com/apis/api/public/call-data'));
  assert.equal(r.code, 1);
  assert.match(line(r.stdout, '✗', 'CRM_API_URL'), /fix: use https:\/\/crm\.example\.com/);
  assert.match(line(r.stdout, '-', 'CRM answers'), /not checked: fix CRM_API_URL first/);
});

test('a corrupted SQLite outbox: ✗ saying to move it aside and restore a backup, exit 1', async () => {
  await withCrm({}, async (crm) => {
    const env = cliEnv(crm.callDataUrl);
    const outbox = env.CRM_OUTBOX as string;
    writeFileSync(outbox, Buffer.alloc(16_384, 0x5a), { mode: 0o600 });
    const r = await runCli(['doctor'], env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const bad = line(r.stdout, '✗', 'outbox');
    assert.match(bad, /is damaged or not an outbox: file is not a database/);
    assert.ok(bad.includes(`move it aside (mv ${outbox} ${outbox}.broken`), bad);
    assert.match(bad, /restore your latest backup/);
    assert.equal(stdoutLines(r).filter((l) => l.startsWith('✗')).length, 1, 'the only failure');
  });
});

test('a Redis outbox: reachable and noeviction are checked, and a Redis that keeps nothing on disk is ✗', async (t) => {
  const skip = await redisSkipReason();
  if (skip !== null) return t.skip(skip);
  // What the test Redis is configured with, read independently of the doctor.
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
  const [, aof] = (await redis.config('GET', 'appendonly')) as [string, string];
  const [, save] = (await redis.config('GET', 'save')) as [string, string];
  redis.disconnect();
  await withCrm({}, async (crm) => {
    const r = await runCli(['doctor'], cliEnv(crm.callDataUrl, { CRM_OUTBOX: redisOutboxUrl('doctor').url }));
    assert.match(line(r.stdout, '✓', 'Redis'), /answers/);
    if (policy === 'noeviction') assert.match(line(r.stdout, '✓', 'Redis maxmemory-policy'), /noeviction/);
    else assert.match(line(r.stdout, '✗', 'Redis maxmemory-policy'), /fix: set maxmemory-policy noeviction/);
    if (aof === 'no' && save.trim() === '') {
      // The test Redis runs with --save "" --appendonly no.
      assert.match(line(r.stdout, '✗', 'Redis persistence'), /appendonly no and no save points: a Redis restart loses every queued call — fix: set appendonly yes/);
      assert.equal(r.code, 1, r.stdout);
    } else {
      line(r.stdout, '✓', 'Redis persistence');
    }
    assert.doesNotMatch(r.stdout, /outbox( writable| file mode)?:/, 'no SQLite checks for a Redis outbox');
  });
});

test('a usage error exits 2', async () => {
  const r = await runCli(['doctor', '--no-such-flag'], cliEnv('http://127.0.0.1:9/x'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option '--no-such-flag'/);
});
