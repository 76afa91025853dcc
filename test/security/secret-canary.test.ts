/**
 * Secret canary (issue 15, "Proof"): the real CLI runs `send` (with a recording), `bulk`, `worker`,
 * `serve`, `dashboard` and `reconcile` at debug level with canary values for CRM_API_KEY,
 * CRM_INGEST_TOKEN and CRM_DASHBOARD_TOKEN (all from the environment), then every stdout and stderr
 * line, the outbox's file bytes, every page and JSON the dashboard serves, its /metrics, serve's
 * answers and the alert webhook's bodies (a dead call, a backlog) are searched: no canary appears anywhere. The canaries did work (the CRM saw the key, serve
 * and the dashboard took the tokens), so their absence is not an accident of nothing running.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { cliEnv, FIX, finished, LOGGER_FIXTURE, OGG, removeTempDirs, runCli, startCli, tempDir, type CliResult } from '../e2e/run-cli.ts';

after(removeTempDirs);

const API_KEY = 'CANARYapikey0123456789abcdefghijklmnop';
const INGEST = 'CANARYingest0123456789abcdefghijklmnop';
const DASH = 'CANARYdash0123456789abcdefghijklmnopqrs';
const CANARIES = [API_KEY, INGEST, DASH];
// Fragments too: a secret cut in half, or its base64 (Basic auth), is still a leak.
const NEEDLES = [...CANARIES, ...CANARIES.map((c) => c.slice(6, 26)), ...CANARIES.map((c) => Buffer.from(c).toString('base64').slice(0, 24))];

const children: ReturnType<typeof startCli>[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Start a long-running command and wait for its `listening on` line. */
async function startServer(args: string[], env: Record<string, string | undefined>) {
  const child = startCli(args, env);
  children.push(child);
  const exited = finished(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer | string) => (stderr += String(d)));
  const url = await waitFor(`${args[0]} to listen`, async () => {
    if (child.exitCode !== null) throw new Error(`${args[0]} exited ${child.exitCode}: ${stderr}`);
    return /listening on (http:\/\/[^\s"]+)/.exec(stderr)?.[1];
  });
  return {
    url,
    async stop(): Promise<CliResult> {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

test('no canary secret appears in any log line, the outbox file, any dashboard page or JSON, /metrics or serve answer', { timeout: 180_000 }, async () => {
  const crm = await startTestCrm();
  // The alert webhook: every body it receives is searched too.
  const hooks: string[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      hooks.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((done) => hook.listen(0, '127.0.0.1', done));
  const texts: { where: string; text: string }[] = [];
  const keep = (where: string, text: string): void => {
    texts.push({ where, text });
  };
  const dir = tempDir('crm-canary-');
  const env = cliEnv(crm.callDataUrl, {
    CRM_OUTBOX: join(dir, 'outbox.db'),
    CRM_API_KEY: API_KEY,
    CRM_INGEST_TOKEN: INGEST,
    CRM_DASHBOARD_TOKEN: DASH,
    CRM_RECORDINGS_DIR: join(FIX, 'recordings'),
    LOG_LEVEL: 'debug',
    CRM_ALERT_WEBHOOK_URL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`,
    CRM_ALERT_BACKLOG_S: '0',
  });
  const cli = async (args: string[]): Promise<CliResult> => {
    const r = await runCli(args, env);
    keep(`${args[0]} stdout`, r.stdout);
    keep(`${args[0]} stderr`, r.stderr);
    return r;
  };
  try {
    const send = await cli(['send', LOGGER_FIXTURE, '--recording', OGG, '--json']);
    assert.equal(send.code, 0, send.stderr);
    const bulk = await cli(['bulk', join(FIX, 'conversations/mongo-export'), '--json', '--no-progress']);
    assert.equal(bulk.code, 0, bulk.stderr);
    assert.equal((await cli(['worker', '--once'])).code, 0);

    // serve: a call in with the ingest token, its status out.
    const serve = await startServer(['serve', '--port', '0'], env);
    const legacy = JSON.parse(readFileSync(join(FIX, 'conversations/legacy/conversation_20251007_164256.json'), 'utf8')) as unknown;
    const posted = await fetch(`${serve.url}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` }, body: JSON.stringify({ session: legacy, callId: 'CALL-canary-serve' }) });
    keep('serve POST', await posted.text());
    assert.equal(posted.status, 202);
    const refused = await fetch(`${serve.url}/v1/calls/CALL-canary-serve`, { headers: { authorization: `Bearer ${INGEST}x` } });
    keep('serve 401', await refused.text());
    await waitFor('serve delivered', async () => {
      const res = await fetch(`${serve.url}/v1/calls/CALL-canary-serve`, { headers: { authorization: `Bearer ${INGEST}` } });
      const text = await res.text();
      keep('serve GET', text);
      return (JSON.parse(text) as { status: string }).status === 'delivered' ? true : undefined;
    });
    // A call the CRM refuses (400): dead here, replayed from the dashboard, dead again under `worker`, which alerts.
    await crmAdmin(crm.url).faults({ forceStatus: { status: 400, callId: 'CALL-canary-dead', message: 'refused for the test' } });
    const doomed = await fetch(`${serve.url}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` }, body: JSON.stringify({ session: legacy, callId: 'CALL-canary-dead', campaignId: 'other' }) });
    keep('serve POST dead', await doomed.text());
    assert.equal(doomed.status, 202);
    await waitFor('serve: the refused call dead', async () => {
      const res = await fetch(`${serve.url}/v1/calls/CALL-canary-dead`, { headers: { authorization: `Bearer ${INGEST}` } });
      const text = await res.text();
      keep('serve GET dead', text);
      return (JSON.parse(text) as { status: string }).status === 'dead' ? true : undefined;
    });
    for (const path of ['/healthz', '/openapi.json']) keep(`serve ${path}`, await (await fetch(`${serve.url}${path}`)).text());
    const served = await serve.stop();
    assert.equal(served.code, 0, served.stderr);
    keep('serve stdout', served.stdout);
    keep('serve stderr', served.stderr);

    // dashboard: every page, partial and JSON, /metrics, a refused and an accepted mutation.
    const dash = await startServer(['dashboard', '--port', '0'], env);
    const callIds = (await crmAdmin(crm.url).calls()).map((c) => c.callDetails.callId);
    assert.ok(callIds.length >= 3, `calls delivered: ${callIds.join(', ')}`);
    const pages = ['/', '/partials/overview', '/api/summary', '/api/dead-letter', '/metrics', '/healthz', `/calls?callId=${callIds[0]}`];
    for (const id of callIds) pages.push(`/calls/${id}`, `/partials/calls/${id}`, `/api/calls/${id}`);
    for (const path of pages) {
      const res = await fetch(`${dash.url}${path}`, { headers: { authorization: `Bearer ${DASH}` } });
      keep(`dashboard ${path} (${res.status})`, await res.text());
    }
    const replay = (token: string) =>
      fetch(`${dash.url}/api/dead-letter/replay`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ callIds: ['CALL-canary-dead'] }) });
    const wrong = await replay(`${DASH.slice(0, -1)}_`);
    keep('dashboard replay 401', await wrong.text());
    assert.equal(wrong.status, 401);
    const right = await replay(DASH);
    keep('dashboard replay', await right.text());
    assert.equal(right.status, 200, 'the dashboard took the token from CRM_DASHBOARD_TOKEN');
    await waitFor('the backlog alert', async () => (hooks.length > 0 ? true : undefined));
    const dashed = await dash.stop();
    assert.equal(dashed.code, 0, dashed.stderr);
    keep('dashboard stdout', dashed.stdout);
    keep('dashboard stderr', dashed.stderr);

    const hooksBefore = hooks.length;
    // Exit 1: a call went dead, which is the point here.
    const dead = await cli(['worker', '--once']);
    assert.equal(dead.code, 1, dead.stderr);
    await waitFor('the dead-call alert', async () => (hooks.slice(hooksBefore).some((b) => b.includes('CALL-canary-dead')) ? true : undefined));
    const reconcile = await cli(['reconcile', '--json']);
    assert.ok(reconcile.code === 0 || reconcile.code === 1, reconcile.stderr);

    for (const f of ['outbox.db', 'outbox.db-wal', 'outbox.db-shm']) {
      const p = join(dir, f);
      if (existsSync(p)) keep(f, readFileSync(p).toString('latin1'));
    }
    const seen = await crmAdmin(crm.url).requests();
    assert.ok(seen.length > 0 && seen.every((r) => r.authorization), 'every CRM request carried the key: the canary was in use');
    assert.ok(seen.some((r) => r.path.endsWith('/upload')), 'a recording was uploaded too');
  } finally {
    await crm.close();
    await new Promise<void>((done) => hook.close(() => done()));
  }
  hooks.forEach((h, i) => keep(`alert webhook body ${i}`, h));

  assert.ok(texts.some((t) => t.where === 'send stderr' && t.text.includes('"level"') || t.text.length > 0), 'debug logs were written');
  const leaks = texts.flatMap((t) => NEEDLES.filter((n) => t.text.includes(n)).map((n) => `${t.where}: ${n}`));
  assert.deepEqual(leaks, []);
  assert.ok(texts.length >= 30, `${texts.length} outputs searched`);
});
