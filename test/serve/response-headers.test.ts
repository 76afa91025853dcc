/**
 * Every answer of the ingest API, whatever its status, says `nosniff` and `no-store` (docs/architecture.md,
 * "Security" → "The ingest door"): a call's data must never be cached, nor an error page sniffed as HTML.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, LOGGER_SESSION, startRig, type ServeRig } from './harness.ts';

let rig: ServeRig;
before(async () => {
  rig = await startRig({}, { worker: false });
});
after(async () => {
  await rig.close();
});

test('202, 200, 400, 401, 403, 404 and 421 answers all carry x-content-type-options: nosniff and cache-control: no-store', async () => {
  const auth = { authorization: `Bearer ${rig.server.token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const session = fixture(LOGGER_SESSION);
  const cases: [string, number, string, RequestInit][] = [
    ['a new call', 202, '/v1/calls', { method: 'POST', headers: json, body: JSON.stringify({ session }) }],
    ['its status', 200, '/v1/calls/CALL-20251023-075634-7e155942', { headers: auth }],
    ['a bad body', 400, '/v1/calls', { method: 'POST', headers: json, body: '{"session": 1}' }],
    ['no token', 401, '/v1/calls', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
    ['a cross-site page', 403, '/v1/calls', { method: 'POST', headers: { ...json, origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' }, body: '{}' }],
    ['an unknown route', 404, '/nowhere', { headers: auth }],
    ['/healthz', 200, '/healthz', {}],
  ];
  for (const [what, status, path, init] of cases) {
    const res = await fetch(rig.url(path), init);
    await res.arrayBuffer();
    assert.equal(res.status, status, what);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
    assert.equal(res.headers.get('cache-control'), 'no-store', what);
  }
  // Another Host (DNS rebinding): refused with 421, the headers too. fetch cannot set Host: a raw request.
  const { request } = await import('node:http');
  const url = new URL(rig.url('/healthz'));
  const misdirected = await new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/healthz', headers: { host: 'evil.example' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(misdirected.status, 421);
  assert.equal(misdirected.headers['x-content-type-options'], 'nosniff');
  assert.equal(misdirected.headers['cache-control'], 'no-store');
});
