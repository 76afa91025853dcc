/**
 * Logs in production (README, "Run it in production" → Logs): with JSON logs every stderr line is one
 * JSON object (journald and log shippers read them), one line per delivered or failed call with its
 * callId, attempt, status and time taken, masked; stdout keeps only the `--json` output. Run through
 * the real CLI with stderr piped, against the local CRM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmAdmin, withCrm } from '../helpers/local-crm.ts';
import { makePayload, type PayloadOverrides } from '../helpers/payloads.ts';
import { cliEnv, FIX, MAIN, removeTempDirs, ROOT, runCli, tempDir } from '../e2e/run-cli.ts';

const SECRET = 'sk-live-9f8e7d6c5b4a39281706';
const EMAIL = 'asha.rao@example.com';

/** Every stderr line parsed as JSON (a line that is not JSON fails the test, naming it). */
function jsonLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      try {
        const value = JSON.parse(line) as unknown;
        assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), line);
        return value as Record<string, unknown>;
      } catch (err) {
        assert.fail(`stderr line is not JSON: ${line} (${(err as Error).message})`);
      }
    });
}

/** The per-call lines (the worker's `attempt` log). */
const attemptLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'attempt');

/** Nothing personal or secret in clear. */
function assertNothingInClear(stderr: string, phones: readonly string[]): void {
  assert.ok(!stderr.includes(SECRET), 'the API key never appears');
  assert.ok(!stderr.includes(EMAIL), 'emails are masked');
  for (const phone of phones) assert.ok(!stderr.includes(phone.replace(/\D/g, '').slice(-10)), `phone ${phone} is masked`);
}

describe('logs in production: JSON lines on stderr', () => {
  after(removeTempDirs);

  test('worker: one JSON line per delivered or failed call (callId, attempt, status, time taken), masked; nothing on stdout', async () => {
    const outbox = join(tempDir('crm-logs-'), 'outbox.db');
    const payloads = Array.from({ length: 6 }, (_, i) => makePayload(i, i === 5 ? ({ lead: { name: 'Asha Rao', email: EMAIL, phone: '+919999900005' } } as PayloadOverrides) : {}));
    const store = openSqliteOutbox(outbox);
    await store.enqueueMany(payloads.map((p) => ({ callId: p.callDetails.callId, payload: p, recordingPath: null })));
    await store.close();
    const refused = payloads[5]?.callDetails.callId as string;
    const phones = payloads.map((p) => p.callDetails.callerNumber as string);

    await withCrm({}, async (crm) => {
      // The CRM's refusal repeats the caller's number and email: the log line carrying it must mask them.
      await crmAdmin(crm.url).faults({ forceStatus: { status: 400, callId: refused, message: `caller +919999900005 (${EMAIL}) rejected` } });
      const env = cliEnv(`${crm.url}/apis/api/public/call-data`, { CRM_OUTBOX: outbox, CRM_API_KEY: SECRET, LOG_LEVEL: undefined });
      const r = await runCli(['--log-format', 'json', 'worker', '--once'], env);
      assert.equal(r.code, 1, r.stderr); // a call went dead
      assert.equal(r.stdout, '');
      const lines = jsonLines(r.stderr);
      const calls = attemptLines(lines);
      const delivered = calls.filter((l) => l.outcome === 'delivered');
      assert.deepEqual(delivered.map((l) => l.callId).sort(), payloads.slice(0, 5).map((p) => p.callDetails.callId).sort());
      for (const l of delivered) {
        assert.equal(l.level, 30);
        assert.equal(l.attempt, 1);
        assert.equal(l.status, 201);
        assert.equal(typeof l.durationMs, 'number');
        assert.equal(typeof l.time, 'number');
      }
      const failed = calls.filter((l) => l.outcome !== 'delivered');
      assert.equal(failed.length, 1);
      assert.deepEqual([failed[0]?.callId, failed[0]?.outcome, failed[0]?.status, failed[0]?.attempt, failed[0]?.level], [refused, 'dead', 400, 1, 40]);
      assert.match(String(failed[0]?.error), /\+\*{10}05 \(a\*\*\*@example\.com\)/);
      // The messages for people are JSON lines too.
      assert.ok(lines.some((l) => l.level === 30 && /^worker: 5 delivered, 0 to retry, 0 rate-limited, 1 dead/.test(String(l.msg))), r.stderr);
      assertNothingInClear(r.stderr, phones);
    });
  });

  test('bulk: stdout is only the --json summary; stderr is JSON lines, one per delivered call', async () => {
    await withCrm({}, async (crm) => {
      const env = cliEnv(`${crm.url}/apis/api/public/call-data`, { CRM_API_KEY: SECRET, LOG_LEVEL: undefined });
      const args = ['--log-format', 'json', 'bulk', join(FIX, 'conversations'), '--leads', join(FIX, 'leads'), '--recordings', join(FIX, 'recordings'), '--manifests', join(FIX, 'call_metadata'), '--json'];
      const r = await runCli(args, env);
      const stdout = r.stdout.split('\n').filter((l) => l !== '');
      assert.equal(stdout.length, 1, r.stdout);
      const summary = JSON.parse(stdout[0] as string) as { success: number; failed: number; pending: number };
      assert.equal(r.code, 0, r.stderr);
      assert.ok(summary.success >= 5);
      const lines = jsonLines(r.stderr);
      const stored = (await crmAdmin(crm.url).calls()).map((c) => c.callDetails.callId).sort();
      const delivered = attemptLines(lines).filter((l) => l.outcome === 'delivered');
      assert.deepEqual(delivered.map((l) => l.callId).sort(), stored);
      assert.equal(delivered.length, summary.success);
      for (const l of delivered) assert.ok(typeof l.attempt === 'number' && typeof l.status === 'number' && typeof l.durationMs === 'number');
      assert.ok(lines.some((l) => /^success \d+ · failed 0/.test(String(l.msg))));
      // The fixtures' callers: +91 99999 000xx.
      assert.ok(!/99999\s?000\d\d/.test(r.stderr), 'no caller number in clear');
      assertNothingInClear(r.stderr, []);
    });
  });

  test('auto: JSON lines when stderr is not a terminal (a file, the journal), text on a terminal; bad values exit 2', async () => {
    const dir = tempDir('crm-logs-auto-');
    const env = { ...process.env, CRM_OUTBOX: join(dir, 'outbox.db'), LOG_LEVEL: undefined, CRM_LOG_FORMAT: undefined };
    /** Run `status` with stderr into a file, JOURNAL_STREAM naming that file (`journal`) or another. */
    const run = async (journal: boolean): Promise<string> => {
      const file = join(dir, `stderr-${journal}.log`);
      const fd = openSync(file, 'w');
      const otherFd = openSync(join(dir, 'other'), 'w');
      const other = fstatSync(otherFd);
      closeSync(otherFd);
      const st = journal ? fstatSync(fd) : other;
      const child = spawn(process.execPath, [MAIN, 'status'], { cwd: ROOT, stdio: ['ignore', 'ignore', fd], env: { ...env, JOURNAL_STREAM: `${st.dev}:${st.ino}` } });
      const code = await new Promise<number | null>((res) => child.on('close', res));
      closeSync(fd);
      assert.equal(code, 0);
      return readFileSync(file, 'utf8');
    };
    for (const journal of [true, false]) {
      const lines = jsonLines(await run(journal));
      assert.equal(lines.length, 1, `journal ${journal}`);
      assert.match(String(lines[0]?.msg), /^pending 0 · in_flight 0 · delivered 0 · dead 0/);
    }
    // On a terminal (a pty made by util-linux's script(1)), the same command writes text for a person.
    const tty = spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} status`, '/dev/null'], { cwd: ROOT, env, encoding: 'utf8' });
    if (tty.error === undefined) {
      assert.equal(tty.status, 0, tty.stdout);
      assert.match(tty.stdout, /^pending 0 · in_flight 0 · delivered 0 · dead 0/m);
      assert.doesNotMatch(tty.stdout, /"msg"/);
    } else if (process.env.CI === 'true') {
      assert.fail(`script(1) is needed for the terminal case: ${tty.error.message}`);
    }

    const bad = await runCli(['--log-format', 'xml', 'status'], cliEnv('http://127.0.0.1:9/x', { CRM_OUTBOX: join(dir, 'outbox.db') }));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--log-format must be one of auto, json, text, got "xml"/);
    const level = await runCli(['status'], cliEnv('http://127.0.0.1:9/x', { CRM_OUTBOX: join(dir, 'outbox.db'), LOG_LEVEL: 'loud' }));
    assert.equal(level.code, 2);
    assert.match(level.stderr, /LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"/);
  });
});
