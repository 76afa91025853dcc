/**
 * `crm-upload dashboard` as a real child process: it prints `listening on http://127.0.0.1:PORT` and
 * `token: <token>` on stderr (random, or CRM_DASHBOARD_TOKEN) and nothing on stdout; the token works
 * for a mutation; `--allow-host` adds a Host; SIGTERM stops it (exit 0); bad flags exit 2.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { finished, removeTempDirs, runCli, startCli, tempDir, waitFor } from '../e2e/run-cli.ts';
import { rawRequest, testItem } from './fixture.ts';

describe('dashboard (CLI)', () => {
  after(() => removeTempDirs());

  async function start(args: string[], env: Record<string, string> = {}) {
    const dbPath = join(tempDir('crm-dash-cli-'), 'outbox.db');
    const store = openSqliteOutbox(dbPath);
    await store.enqueueMany([testItem(1), testItem(2)]);
    await store.close();
    const child = startCli(['dashboard', '--port', '0', ...args], { CRM_OUTBOX: dbPath, LOG_LEVEL: 'warn', ...env });
    const result = finished(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer | string) => (stderr += String(d)));
    // A token from the environment is never printed: only the address then.
    const pattern = env.CRM_DASHBOARD_TOKEN === undefined ? /^listening on http:\/\/127\.0\.0\.1:(\d+)\ntoken: (\S+)\n/ : /^listening on http:\/\/127\.0\.0\.1:(\d+)\n/;
    const [, port, token] = await waitFor('the start-up lines', async () => pattern.exec(stderr) ?? undefined);
    return { child, result, port: Number(port), token: token ?? env.CRM_DASHBOARD_TOKEN ?? '', stderr: () => stderr };
  }

  test('prints its address and a random token; the token allows a mutation; SIGTERM exits 0', { timeout: 20_000 }, async () => {
    const d = await start(['--allow-host', 'dash.internal']);
    assert.match(d.token, /^[A-Za-z0-9_-]{43}$/);
    const summary = await rawRequest(d.port, '/api/summary');
    assert.equal(summary.status, 200);
    assert.deepEqual((JSON.parse(summary.body) as { counts: unknown }).counts, { pending: 2, in_flight: 0, delivered: 0, dead: 0 });
    assert.equal((await rawRequest(d.port, '/', { headers: { host: `dash.internal:${d.port}` } })).status, 200);
    assert.equal((await rawRequest(d.port, '/', { headers: { host: `other.internal:${d.port}` } })).status, 421);
    const replay = (authorization: string) =>
      rawRequest(d.port, '/api/dead-letter/replay', { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: '{"all":true}' });
    assert.equal((await replay('Bearer nope-nope-nope-nope')).status, 401);
    const ok = await replay(`Bearer ${d.token}`);
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { replayed: 0, notReplayed: [] });
    d.child.kill('SIGTERM');
    const end = await d.result;
    assert.equal(end.code, 0, end.stderr);
    assert.equal(end.stdout, '');
    assert.equal(end.stderr.split(d.token).length - 1, 1, 'the token is printed once, on its own line');
  });

  test('CRM_DASHBOARD_TOKEN is the token, and it is never printed', { timeout: 20_000 }, async () => {
    const configured = 'configured-token-for-tests-42';
    const d = await start([], { CRM_DASHBOARD_TOKEN: configured });
    try {
      const replay = (token: string) =>
        fetch(`http://127.0.0.1:${d.port}/api/dead-letter/replay`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ callIds: ['CALL-none'] }),
        });
      assert.equal((await replay('configured-token-for-tests-4')).status, 401);
      assert.equal((await replay(configured)).status, 200);
    } finally {
      d.child.kill('SIGTERM');
    }
    const end = await d.result;
    assert.equal(end.code, 0);
    assert.ok(!end.stderr.includes(configured) && !end.stdout.includes(configured), 'CRM_DASHBOARD_TOKEN is never printed');
    assert.doesNotMatch(end.stderr, /^token:/m);
  });

  test('usage errors exit 2', async () => {
    const dbPath = join(tempDir('crm-dash-cli-'), 'outbox.db');
    for (const [args, env, message] of [
      [['dashboard', '--port', 'http'], {}, /--port must be a whole number/],
      [['dashboard', '--port', '0', '--host', '0.0.0.0', '--show-pii'], {}, /--show-pii is only allowed on a loopback address/],
      [['dashboard', '--port', '0'], { CRM_DASHBOARD_TOKEN: 'short' }, /CRM_DASHBOARD_TOKEN must be at least 16 characters/],
      [['dashboard', '--port', '0', '--allow-host', 'bad host'], {}, /--allow-host must be a host name/],
    ] as const) {
      const r = await runCli([...args], { CRM_OUTBOX: dbPath, ...env });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /^token:/m);
    }
  });
});
