/**
 * The ingest token: required as a Bearer token on every `/v1` route when `CRM_INGEST_TOKEN` is set
 * (and only there), checked exactly, and required before binding anything but loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { bearerMatches, isLoopbackHost } from '../../src/serve/auth.ts';
import { startIngestServer } from '../../src/serve/server.ts';
import { fixture, getJson, LOGGER_SESSION, postCall, startRig, type ServeRig } from './harness.ts';

const TOKEN = 'ingest-token-0123456789abcdef';

describe('ingest API with CRM_INGEST_TOKEN', () => {
  let rig: ServeRig;
  before(async () => {
    rig = await startRig({ CRM_INGEST_TOKEN: TOKEN }, { worker: false });
  });
  after(async () => {
    await rig.close();
  });

  test('every /v1 route answers 401 without the token or with a wrong one, and nothing is enqueued', async () => {
    const session = fixture(LOGGER_SESSION);
    for (const token of [undefined, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1), '']) {
      const post = await postCall(rig, { session }, { token: token ?? null });
      assert.equal(post.status, 401, `POST with ${String(token)}`);
      assert.equal(post.body.code, 'E_SERVE_UNAUTHORIZED');
      assert.equal(post.headers.get('www-authenticate'), 'Bearer realm="crm-upload"');
      assert.ok(!JSON.stringify(post.body).includes(TOKEN), 'the answer never echoes the token');
      const get = await getJson(rig, '/v1/calls/CALL-20251023-075634-7e155942', token ?? null);
      assert.equal(get.status, 401, `GET with ${String(token)}`);
    }
    const basic = await fetch(rig.url('/v1/calls/x'), { headers: { authorization: `Basic ${TOKEN}` } });
    assert.equal(basic.status, 401);
    await basic.body?.cancel();
    assert.equal((await rig.server.store.counts()).pending, 0);
  });

  test('with the token: 202 and 200; /healthz and /openapi.json need none', async () => {
    const post = await postCall(rig, { session: fixture(LOGGER_SESSION) }, { token: TOKEN });
    assert.equal(post.status, 202, JSON.stringify(post.body));
    const get = await getJson(rig, `/v1/calls/${post.body.callId as string}`, TOKEN);
    assert.equal(get.status, 200);
    assert.equal(get.body.status, 'pending', 'no worker in this server');
    assert.equal((await getJson(rig, '/healthz', null)).status, 200);
    assert.equal((await getJson(rig, '/openapi.json', null)).status, 200);
  });
});

describe('ingest API without CRM_INGEST_TOKEN', () => {
  test('a token is generated at start (43 URL-safe characters, new each start) and required on every /v1 route', async () => {
    const rig = await startRig({}, { worker: false });
    const other = await startRig({}, { worker: false });
    try {
      assert.equal(rig.server.tokenFromConfig, false);
      assert.match(rig.server.token, /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(rig.server.token, other.server.token);
      assert.equal((await postCall(rig, { session: fixture(LOGGER_SESSION) }, { token: null })).status, 401);
      assert.equal((await postCall(rig, { session: fixture(LOGGER_SESSION) }, { token: other.server.token })).status, 401);
      assert.equal((await getJson(rig, '/v1/calls/CALL-20251023-075634-7e155942', null)).status, 401);
      assert.equal((await postCall(rig, { session: fixture(LOGGER_SESSION) })).status, 202);
    } finally {
      await rig.close();
      await other.close();
    }
  });
});

describe('binding', () => {
  test('anything but loopback without CRM_INGEST_TOKEN is a ConfigError naming it; nothing listens', async () => {
    const config = loadConfig({ env: { CRM_OUTBOX: '/nonexistent/never-opened.db' }, envFile: null });
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      await assert.rejects(
        startIngestServer({ config, host, port: 0, worker: false }),
        (err: unknown) => err instanceof ConfigError && err.context.variable === 'CRM_INGEST_TOKEN' && /CRM_INGEST_TOKEN is required/.test(err.message),
        host,
      );
    }
  });

  test('loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com', '::ffff:10.0.0.1', '']) assert.equal(isLoopbackHost(h), false, h);
  });

  test('the Bearer check accepts exactly the token', () => {
    assert.equal(bearerMatches(`Bearer ${TOKEN}`, TOKEN), true);
    assert.equal(bearerMatches(`bearer   ${TOKEN}`, TOKEN), true);
    for (const h of [undefined, null, '', 'Bearer', 'Bearer ', `Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN} extra`, `Bearer ${TOKEN.toUpperCase()}`]) {
      assert.equal(bearerMatches(h, TOKEN), false, String(h));
    }
  });
});
