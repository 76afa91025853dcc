/**
 * `crm-upload serve` end to end: the real CLI as a long-running child against the real local CRM. A
 * call POSTed to it is delivered once by its in-process worker, SIGTERM and SIGINT stop it with exit 0,
 * `--no-worker` only enqueues (into the same outbox `worker` then delivers from), and a bind to anything
 * but loopback without CRM_INGEST_TOKEN is exit 2.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { crmAdmin, startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { assertValidPayload } from '../helpers/payloads.ts';
import { cliEnv, finished, LOGGER_FIXTURE, runCli, startCli, removeTempDirs, waitFor, type CliResult } from './run-cli.ts';

after(removeTempDirs);

const CALL_ID = 'CALL-20251023-075634-7e155942';
const session = (): unknown => JSON.parse(readFileSync(LOGGER_FIXTURE, 'utf8'));

/** Start `serve` and wait for its `listening on` line. */
async function startServe(args: string[], env: Record<string, string | undefined>) {
  const child = startCli(['serve', ...args], env);
  const exited = finished(child);
  let stderr = '';
  child.stderr.on('data', (d: string) => (stderr += d));
  const url = await waitFor(
    'serve to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
      // A token is printed right after the address, unless CRM_INGEST_TOKEN gives one.
      if (env.CRM_INGEST_TOKEN === undefined && !/^token: \S+$/m.test(stderr)) return undefined;
      return /listening on (http:\/\/[^\s"]+)/.exec(stderr)?.[1];
    },
    15_000,
    20,
  );
  return {
    url,
    /** The token serve printed (generated), or CRM_INGEST_TOKEN. */
    token: env.CRM_INGEST_TOKEN ?? (/^token: (\S+)$/m.exec(stderr)?.[1] as string),
    exited,
    stderr: () => stderr,
    stop: async (signal: NodeJS.Signals = 'SIGTERM'): Promise<CliResult> => {
      child.kill(signal);
      return exited;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/v1/calls`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('crm-upload serve', { concurrency: 3 }, () => {
  const crms: LocalCrm[] = [];
  after(async () => {
    await Promise.all(crms.map((c) => c.close()));
  });
  const crm = async (): Promise<LocalCrm> => {
    const c = await startTestCrm();
    crms.push(c);
    return c;
  };

  test('a POSTed call is delivered once by the in-process worker; SIGTERM exits 0', async () => {
    const c = await crm();
    const serve = await startServe(['--port', '0'], cliEnv(c.callDataUrl));
    try {
      assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(serve.url, 'http://127.0.0.1:0', '--port 0 prints the port it took');
      assert.equal((await post(serve.url, { session: session() })).status, 401, 'a token always, even on loopback');
      assert.match(serve.token, /^[A-Za-z0-9_-]{43}$/, 'a generated token is printed');
      const a = await post(serve.url, { session: session() }, serve.token);
      assert.equal(a.status, 202, JSON.stringify(a.body));
      assert.deepEqual(a.body, { callId: CALL_ID, status: 'pending', enqueued: true, warnings: [] });
      const stored = await waitFor('the call in the CRM', async () => (await crmAdmin(c.url).calls()).find((p) => p.callDetails.callId === CALL_ID));
      assertValidPayload(stored);
      const status = await waitFor('delivered', async () => {
        const res = await fetch(`${serve.url}/v1/calls/${CALL_ID}`, { headers: { authorization: `Bearer ${serve.token}` } });
        const body = (await res.json()) as Record<string, unknown>;
        return body.status === 'delivered' ? body : undefined;
      });
      assert.equal(status.attempts, 1);
      const r = await serve.stop('SIGTERM');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /SIGTERM: stopping/);
      assert.match(r.stderr, /worker: 1 delivered/);
      assert.equal((await crmAdmin(c.url).requests()).filter((q) => q.method === 'POST').length, 1);
    } finally {
      serve.kill();
    }
  });

  test('--no-worker only enqueues, into the outbox `worker` delivers from; SIGINT exits 0', async () => {
    const c = await crm();
    const env = cliEnv(c.callDataUrl);
    const serve = await startServe(['--port', '0', '--no-worker'], env);
    try {
      await waitFor('the --no-worker note', async () => /worker off \(--no-worker\)/.test(serve.stderr()), 5_000, 20);
      const a = await post(serve.url, { session: session(), callerNumber: '9999900001' }, serve.token);
      assert.equal(a.status, 202, JSON.stringify(a.body));
      await sleep(400);
      assert.equal((await crmAdmin(c.url).requests()).length, 0, 'nothing is delivered without a worker');
      const r = await serve.stop('SIGINT');
      assert.equal(r.code, 0, r.stderr);
    } finally {
      serve.kill();
    }
    const w = await runCli(['worker', '--once'], env);
    assert.equal(w.code, 0, w.stderr);
    const held = await crmAdmin(c.url).calls();
    assert.deepEqual(held.map((p) => [p.callDetails.callId, p.callDetails.callerNumber]), [[CALL_ID, '+919999900001']]);
  });

  test('a non-loopback host needs CRM_INGEST_TOKEN (exit 2 naming it); with it, /v1 needs the token, which is never printed', async () => {
    const c = await crm();
    const refused = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'], cliEnv(c.callDataUrl));
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /CRM_INGEST_TOKEN is required to listen on 0\.0\.0\.0/);
    assert.equal(refused.stdout, '');

    const short = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'], cliEnv(c.callDataUrl, { CRM_INGEST_TOKEN: 'e2e-secret-token-7f3a9c' }));
    assert.equal(short.code, 2, short.stderr);
    assert.match(short.stderr, /CRM_INGEST_TOKEN must be at least 32 characters/);
    assert.ok(!short.stderr.includes('e2e-secret-token-7f3a9c'), 'not even a refused token is printed');

    const token = 'e2e-secret-token-7f3a9c-0123456789abcdef';
    const serve = await startServe(['--host', '0.0.0.0', '--port', '0'], cliEnv(c.callDataUrl, { CRM_INGEST_TOKEN: token }));
    try {
      assert.match(serve.url, /^http:\/\/0\.0\.0\.0:\d+$/);
      const local = serve.url.replace('0.0.0.0', '127.0.0.1');
      assert.equal((await post(local, { session: session() })).status, 401);
      assert.equal((await post(local, { session: session() }, token)).status, 202);
      const r = await serve.stop();
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), 'the token is never printed');
    } finally {
      serve.kill();
    }
  });

  test('bad flags are exit 2', async () => {
    const env = cliEnv('http://127.0.0.1:9/unused/call-data');
    const [port, size] = await Promise.all([runCli(['serve', '--port', 'abc'], env), runCli(['serve', '--port', '0', '--max-json', 'lots'], env)]);
    assert.equal(port.code, 2, port.stderr);
    assert.match(port.stderr, /--port must be a whole number/);
    assert.equal(size.code, 2, size.stderr);
    assert.match(size.stderr, /--max-json must be a size/);
  });
});
