/**
 * Secret canary on a Redis (BullMQ) outbox (issue 15, "Proof"): a throwaway redis-server of the test's
 * own requires a canary password, which reaches the CLI only inside CRM_OUTBOX
 * (`redis://:PASSWORD@127.0.0.1:PORT/0`); `send`, `bulk`, `worker`, `serve` and `doctor` run at debug
 * level with canary values for CRM_API_KEY, CRM_INGEST_TOKEN and CRM_DASHBOARD_TOKEN too. Then every
 * stdout and stderr line, serve's answers and every key and value in that Redis (strings, hashes, lists,
 * sets, sorted sets, streams) are searched: no canary appears anywhere. The canaries did work (Redis
 * refuses anyone without the password, the CRM saw the key, serve took the token), so their absence is
 * not an accident of nothing running.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, redisServerMissing } from '../chaos/redis-server.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { cliEnv, FIX, finished, LOGGER_FIXTURE, removeTempDirs, runCli, startCli, tempDir, type CliResult } from '../e2e/run-cli.ts';

after(removeTempDirs);

const REDIS_PASSWORD = 'CANARYredispw0123456789abcdefghijklmno';
const API_KEY = 'CANARYapikey0123456789abcdefghijklmnop';
const INGEST = 'CANARYingest0123456789abcdefghijklmnop';
const DASH = 'CANARYdash0123456789abcdefghijklmnopqrs';
const CANARIES = [REDIS_PASSWORD, API_KEY, INGEST, DASH];
// Fragments too: a secret cut in half, or its base64, is still a leak.
const NEEDLES = [...CANARIES, ...CANARIES.map((c) => c.slice(6, 26)), ...CANARIES.map((c) => Buffer.from(c).toString('base64').slice(0, 24))];

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A redis-server of this test's own on a free port that requires `password`; stopped by the `after` hook. */
async function startPasswordRedis(password: string): Promise<{ port: number; client: Redis }> {
  const port = await freePort();
  const dir = tempDir('crm-canary-redis-');
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--requirepass', password], {
    stdio: 'ignore',
  });
  children.push(server);
  const client = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  await waitFor(`redis-server on ${port}`, async () => {
    if (server.exitCode !== null) throw new Error(`redis-server exited ${server.exitCode}`);
    if (client.status !== 'ready') await client.connect().catch(() => undefined);
    return client.status === 'ready' && (await client.ping().catch(() => null)) === 'PONG' ? true : undefined;
  });
  return { port, client };
}

/** Every key of the database and what it holds, as text, read by the key's type. */
async function dumpRedis(r: Redis): Promise<{ key: string; type: string; text: string }[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await r.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const dumped: { key: string; type: string; text: string }[] = [];
  for (const key of keys.sort()) {
    const type = await r.type(key);
    let value: unknown;
    if (type === 'string') value = await r.get(key);
    else if (type === 'hash') value = await r.hgetall(key);
    else if (type === 'list') value = await r.lrange(key, 0, -1);
    else if (type === 'set') value = await r.smembers(key);
    else if (type === 'zset') value = await r.zrange(key, 0, -1, 'WITHSCORES');
    else if (type === 'stream') value = await r.xrange(key, '-', '+');
    else throw new Error(`key ${key} has a type this test does not read: ${type}`);
    dumped.push({ key, type, text: `${key}\n${JSON.stringify(value)}` });
  }
  return dumped;
}

test('with a Redis outbox, no canary (Redis password, API key, tokens) appears in any log line, doctor line, serve answer or Redis key or value', { skip: redisServerMissing() ?? false, timeout: 180_000 }, async () => {
  const { port, client } = await startPasswordRedis(REDIS_PASSWORD);
  const crm = await startTestCrm();
  const texts: { where: string; text: string }[] = [];
  const keep = (where: string, text: string): void => {
    texts.push({ where, text });
  };
  const outbox = `redis://:${REDIS_PASSWORD}@127.0.0.1:${port}/0`;
  const env = cliEnv(crm.callDataUrl, {
    CRM_OUTBOX: outbox,
    CRM_API_KEY: API_KEY,
    CRM_INGEST_TOKEN: INGEST,
    CRM_DASHBOARD_TOKEN: DASH,
    LOG_LEVEL: 'debug',
  });
  const cli = async (args: string[]): Promise<CliResult> => {
    const r = await runCli(args, env);
    keep(`${args.join(' ')} stdout`, r.stdout);
    keep(`${args.join(' ')} stderr`, r.stderr);
    return r;
  };
  try {
    // The password is needed: without it the same commands cannot reach the queue.
    const noPassword = await runCli(['doctor', '--json'], { ...env, CRM_OUTBOX: `redis://127.0.0.1:${port}/0` });
    keep('doctor without the password stdout', noPassword.stdout);
    keep('doctor without the password stderr', noPassword.stderr);
    assert.equal(noPassword.code, 1, `doctor without the password must fail: ${noPassword.stdout}${noPassword.stderr}`);

    const send = await cli(['send', LOGGER_FIXTURE, '--json']);
    assert.equal(send.code, 0, send.stderr);
    const bulk = await cli(['bulk', join(FIX, 'conversations/mongo-export'), '--json', '--no-progress']);
    assert.equal(bulk.code, 0, bulk.stderr);
    const worker = await cli(['worker', '--once']);
    assert.equal(worker.code, 0, worker.stderr);

    // serve: a call in with the ingest token, delivered, its status out.
    const child = startCli(['serve', '--port', '0'], env);
    children.push(child);
    const exited = finished(child);
    let serveErr = '';
    child.stderr.on('data', (d: Buffer | string) => (serveErr += String(d)));
    const url = await waitFor('serve to listen', async () => {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${serveErr}`);
      return /listening on (http:\/\/[^\s"]+)/.exec(serveErr)?.[1];
    });
    const legacy = JSON.parse(readFileSync(join(FIX, 'conversations/legacy/conversation_20251007_164256.json'), 'utf8')) as unknown;
    const posted = await fetch(`${url}/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` }, body: JSON.stringify({ session: legacy, callId: 'CALL-canary-redis' }) });
    keep('serve POST', await posted.text());
    assert.equal(posted.status, 202);
    await waitFor('serve delivered', async () => {
      const res = await fetch(`${url}/v1/calls/CALL-canary-redis`, { headers: { authorization: `Bearer ${INGEST}` } });
      const text = await res.text();
      keep('serve GET', text);
      return (JSON.parse(text) as { status: string }).status === 'delivered' ? true : undefined;
    });
    keep('serve /healthz', await (await fetch(`${url}/healthz`)).text());
    child.kill('SIGTERM');
    const served = await exited;
    assert.equal(served.code, 0, served.stderr);
    keep('serve stdout', served.stdout);
    keep('serve stderr', served.stderr);

    // doctor prints the Redis checks (its URL shown, its settings read through the password).
    const doctor = await cli(['doctor']);
    // Shown with the password masked: the URL was printed, through the redaction.
    assert.match(doctor.stdout, new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}`), `doctor showed the Redis outbox, masked: ${doctor.stdout}`);
    const doctorJson = await cli(['doctor', '--json']);
    assert.match(doctorJson.stdout, /appendonly|maxmemory/i, 'doctor read the Redis settings');

    const seen = await crmAdmin(crm.url).requests();
    assert.ok(seen.length >= 3 && seen.every((r) => r.authorization), 'every CRM request carried the key: the canary was in use');
    const calls = (await crmAdmin(crm.url).calls()).map((c) => c.callDetails.callId);
    assert.ok(calls.includes('CALL-canary-redis') && calls.length >= 3, `calls delivered: ${calls.join(', ')}`);

    const dumped = await dumpRedis(client);
    assert.ok(dumped.some((d) => d.type === 'hash') && dumped.length >= 5, `Redis held the queue: ${dumped.map((d) => `${d.key} (${d.type})`).join(', ')}`);
    for (const d of dumped) keep(`redis ${d.type} ${d.key}`, d.text);
    const leaks = texts.flatMap((t) => NEEDLES.filter((n) => t.text.includes(n)).map((n) => `${t.where}: ${n}`));
    assert.deepEqual(leaks, []);
    assert.ok(texts.length >= 20, `${texts.length} outputs searched`);
    console.log(`searched ${texts.length} outputs, ${dumped.length} Redis keys (${[...new Set(dumped.map((d) => d.type))].sort().join(', ')}), ${NEEDLES.length} needles: 0 occurrences`);
  } finally {
    await crm.close();
    client.disconnect();
  }
});
