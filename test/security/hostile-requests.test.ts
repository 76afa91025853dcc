/**
 * Hostile requests against `serve` and the dashboard (issue 15, "Proof"): each case is one request an
 * attacker (or a broken client) may send — oversize, many parts, slow bodies and headers, bad ids,
 * traversal, links, cross-site, DNS rebinding, wrong content types, broken JSON, huge headers — and
 * each must get its own 4xx, never a 5xx and never a hang. Afterwards a good call is still taken and
 * delivered, and the process's memory grew by less than a generous bound. Real servers over sockets.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.ts';
import { crmAdmin } from '../helpers/local-crm.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { fixture, LOGGER_SESSION, OGG, startRig, type ServeRig } from '../serve/harness.ts';
import { readFileSync } from 'node:fs';

/** One answer, whatever it is. */
interface Reply {
  status: number;
  text: string;
}

/** A request over node:http, with any headers (Host included) and body. */
function raw(port: number, opts: { method?: string; path?: string; headers?: Record<string, string | number>; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Raw bytes on a socket (requests node:http would not send); the status line of the answer. */
function socketText(port: number, chunks: (string | Buffer)[], stallAfter = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (text += d));
    sock.on('error', (err) => (text === '' ? reject(err) : undefined));
    sock.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
    for (const c of chunks) sock.write(c);
    // A slow client: it never sends the rest; the server must answer and close by itself.
    if (!stallAfter) sock.end();
  });
}

function multipart(boundary: string, parts: { name: string; filename?: string; type?: string; body: string | Buffer; headers?: string }[], close = true): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
    out.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}${p.headers ?? ''}\r\n`));
    out.push(Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body));
    out.push(Buffer.from('\r\n'));
  }
  if (close) out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

describe('hostile requests', () => {
  let rig: ServeRig;
  let dash: DashboardServer;
  let wide: DashboardServer;
  let rssBefore = 0;
  const WIDE_TOKEN = 'w'.repeat(40);

  before(async () => {
    rig = await startRig({}, { maxJsonBytes: 64 * 1024, maxUploadBytes: 1024 * 1024, headersTimeoutMs: 2_000, requestTimeoutMs: 4_000 });
    dash = await startDashboard({ config: rig.config, store: rig.server.store, port: 0 });
    wide = await startDashboard({ config: rig.config, store: rig.server.store, host: '0.0.0.0', port: 0, token: WIDE_TOKEN });
    const recordings = rig.recordingsDir;
    mkdirSync(join(rig.dir, 'outside'));
    writeFileSync(join(rig.dir, 'outside', 'secret.ogg'), readFileSync(OGG));
    symlinkSync(join(rig.dir, 'outside', 'secret.ogg'), join(recordings, 'link.ogg'));
    symlinkSync(join(rig.dir, 'nowhere.ogg'), join(recordings, 'dangling.ogg'));
    mkdirSync(join(recordings, 'folder.ogg'));
    global.gc?.();
    rssBefore = process.memoryUsage().rss;
  });
  after(async () => {
    await wide.close();
    await dash.close();
    await rig.close();
  });

  const port = (): number => rig.server.port;
  const host = (): string => `127.0.0.1:${port()}`;
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${rig.server.token}`, host: host() });
  const json = (body: unknown, extra: Record<string, string> = {}): Promise<Reply> =>
    raw(port(), { method: 'POST', path: '/v1/calls', headers: { ...auth(), 'content-type': 'application/json', ...extra }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const form = (body: Buffer, boundary = 'BOUND'): Promise<Reply> =>
    raw(port(), { method: 'POST', path: '/v1/calls', headers: { ...auth(), 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': body.length }, body });
  const session = (): Record<string, unknown> => fixture(LOGGER_SESSION);
  const call = (over: Record<string, unknown> = {}): string => JSON.stringify({ session: session(), ...over });
  const dget = (path: string, headers: Record<string, string> = {}): Promise<Reply> => raw(dash.port, { path, headers: { host: `127.0.0.1:${dash.port}`, ...headers } });
  const dpost = (path: string, headers: Record<string, string>, body: string): Promise<Reply> =>
    raw(dash.port, { method: 'POST', path, headers: { host: `127.0.0.1:${dash.port}`, ...headers }, body });
  const dtoken = (): Record<string, string> => ({ authorization: `Bearer ${dash.token}`, 'content-type': 'application/json' });

  /** [name, the request, the status it must get, an optional check of the answer]. */
  const cases: [string, () => Promise<Reply>, number, ((r: Reply) => void)?][] = [
    // Rebinding and cross-site (serve).
    ['serve: Host evil.example (DNS rebinding)', () => raw(port(), { path: '/healthz', headers: { host: 'evil.example' } }), 421],
    ['serve: Host evil.example:PORT on /v1 with the token', () => json(call(), { host: `evil.example:${port()}` }), 421],
    ['serve: no Host at all (HTTP/1.1)', () => socketText(port(), [`GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n`]), 400],
    ['serve: Origin https://evil.example', () => json(call(), { origin: 'https://evil.example' }), 403],
    ['serve: Sec-Fetch-Site cross-site (a form post from a page)', () => json(call(), { 'sec-fetch-site': 'cross-site' }), 403],
    ['serve: Sec-Fetch-Site same-site', () => json(call(), { 'sec-fetch-site': 'same-site' }), 403],
    ['serve: Origin null (sandboxed frame)', () => json(call(), { origin: 'null' }), 403],
    // The token.
    ['serve: no token', () => raw(port(), { method: 'POST', path: '/v1/calls', headers: { host: host(), 'content-type': 'application/json' }, body: call() }), 401],
    ['serve: wrong token', () => json(call(), { authorization: 'Bearer wrong' }), 401],
    ['serve: the token as Basic', () => json(call(), { authorization: `Basic ${Buffer.from(`x:${rig.server.token}`).toString('base64')}` }), 401],
    // Content types and JSON.
    ['serve: text/plain', () => json(call(), { 'content-type': 'text/plain' }), 415],
    ['serve: urlencoded form', () => json('session=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415],
    ['serve: no Content-Type', () => raw(port(), { method: 'POST', path: '/v1/calls', headers: auth(), body: call() }), 415],
    ['serve: broken JSON', () => json('{"session": {"items": [1, 2'), 400],
    ['serve: empty JSON body', () => json(''), 400],
    ['serve: a JSON array', () => json('[1,2,3]'), 400],
    ['serve: the session posted as the body itself', () => json(session()), 400],
    [
      'serve: 5000 made-up fields → at most 20 problems, a short answer',
      () => json(Object.fromEntries([['session', session()], ...Array.from({ length: 5000 }, (_, i) => [`f${i}`, i])])),
      400,
      (r) => {
        const body = JSON.parse(r.text) as { problems: unknown[] };
        assert.equal(body.problems.length, 20);
        assert.ok(r.text.length < 8 * 1024, `${r.text.length} bytes`);
      },
    ],
    [
      'serve: a 50 000-character field name is cut in the answer',
      () => json({ session: session(), ['k'.repeat(50_000)]: 1 }),
      400,
      (r) => assert.ok(r.text.length < 4 * 1024, `${r.text.length} bytes`),
    ],
    // Size.
    ['serve: JSON over the limit by Content-Length', () => json(call({ lead: { name: 'x'.repeat(70 * 1024) } })), 413],
    [
      'serve: JSON over the limit, chunked',
      () => raw(port(), { method: 'POST', path: '/v1/calls', headers: { ...auth(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: call({ lead: { name: 'x'.repeat(70 * 1024) } }) }),
      413,
    ],
    ['serve: multipart over the limit', () => form(multipart('BOUND', [{ name: 'call', body: call() }, { name: 'recording', filename: 'a.ogg', body: Buffer.alloc(1200 * 1024) }])), 413],
    // Multipart.
    ['serve: multipart without a boundary', () => json(call(), { 'content-type': 'multipart/form-data' }), 400],
    [
      'serve: 2000 unknown parts → stops at the first, one problem',
      () => form(multipart('BOUND', [{ name: 'call', body: call() }, ...Array.from({ length: 2000 }, (_, i) => ({ name: `junk${i}`, body: 'x' }))])),
      400,
      (r) => assert.deepEqual((JSON.parse(r.text) as { problems: { field: string }[] }).problems.map((p) => p.field), ['junk0']),
    ],
    ['serve: recording before call', () => form(multipart('BOUND', [{ name: 'recording', filename: 'a.ogg', body: readFileSync(OGG) }, { name: 'call', body: call() }])), 400],
    ['serve: call twice', () => form(multipart('BOUND', [{ name: 'call', body: call() }, { name: 'call', body: call() }])), 400],
    ['serve: multipart never closed', () => form(multipart('BOUND', [{ name: 'call', body: call() }], false)), 400],
    ['serve: a part header over 16 KiB', () => form(multipart('BOUND', [{ name: 'call', body: call(), headers: `X-Pad: ${'p'.repeat(20_000)}\r\n` }])), 400],
    ['serve: a recording that is not audio', () => form(multipart('BOUND', [{ name: 'call', body: call() }, { name: 'recording', filename: 'a.ogg', body: 'MZ not audio at all' }])), 400],
    ['serve: a field name of 10 000 characters', () => form(multipart('BOUND', [{ name: 'call', body: call() }, { name: 'n'.repeat(10_000), body: 'x' }])), 400, (r) => assert.ok(r.text.length < 2048)],
    // callIds.
    ['serve: callId all digits', () => json(call({ callId: '1234567890' })), 400, (r) => assert.match(r.text, /callId \\"1234567890\\" is invalid/)],
    ['serve: callId with a colon (BullMQ)', () => json(call({ callId: 'bull:queue:1' })), 400, (r) => assert.match(r.text, /bull:queue:1/)],
    ['serve: callId of 129 characters', () => json(call({ callId: 'c'.repeat(129) })), 400],
    ['serve: callId with a path', () => json(call({ callId: '../../etc/passwd' })), 400],
    ['serve: GET an all-digit id', () => raw(port(), { path: '/v1/calls/12345', headers: auth() }), 400],
    ['serve: GET an id with %3A', () => raw(port(), { path: '/v1/calls/a%3Ab', headers: auth() }), 400],
    ['serve: GET an unknown id', () => raw(port(), { path: '/v1/calls/CALL-nobody', headers: auth() }), 404],
    // recordingPath: traversal and links.
    ['serve: recordingPath ../ traversal', () => json(call({ recordingPath: '../../../../etc/passwd' })), 400],
    ['serve: recordingPath absolute outside', () => json(call({ recordingPath: '/etc/passwd' })), 400],
    ['serve: recordingPath a link leading out', () => json(call({ recordingPath: 'link.ogg' })), 400, (r) => assert.match(r.text, /symbolic link/)],
    ['serve: recordingPath a dangling link', () => json(call({ recordingPath: 'dangling.ogg' })), 400],
    ['serve: recordingPath a folder', () => json(call({ recordingPath: 'folder.ogg' })), 400],
    ['serve: recordingPath with NUL', () => json(call({ recordingPath: 'a\u0000.ogg' })), 400],
    // Headers and slowness.
    ['serve: a 64 KiB header', () => socketText(port(), [`GET /healthz HTTP/1.1\r\nHost: ${host()}\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`]), 431],
    ['serve: slow headers (never finished)', () => socketText(port(), [`GET /healthz HTTP/1.1\r\nHost: ${host()}\r\nX-Slow: a`], true), 408],
    [
      'serve: slow body (never finished)',
      () => socketText(port(), [`POST /v1/calls HTTP/1.1\r\nHost: ${host()}\r\nAuthorization: Bearer ${rig.server.token}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"session":`], true),
      408,
    ],
    ['serve: unknown route', () => raw(port(), { path: '/v1/../../etc/passwd', headers: auth() }), 404],
    ['serve: a preflight without the token', () => raw(port(), { method: 'OPTIONS', path: '/v1/calls', headers: { host: host(), origin: `http://${host()}` } }), 401],
    // The dashboard.
    ['dashboard: Host evil.example (DNS rebinding)', () => dget('/', { host: 'evil.example' }), 421],
    ['dashboard: Host evil.example on /metrics', () => dget('/metrics', { host: `evil.example:${dash.port}` }), 421],
    ['dashboard: replay cross-site', () => dpost('/api/dead-letter/replay', { ...dtoken(), 'sec-fetch-site': 'cross-site' }, '{"all":true}'), 403],
    ['dashboard: replay from another Origin', () => dpost('/api/dead-letter/replay', { ...dtoken(), origin: 'https://evil.example' }, '{"all":true}'), 403],
    ['dashboard: replay without the token', () => dpost('/api/dead-letter/replay', { 'content-type': 'application/json' }, '{"all":true}'), 401],
    ['dashboard: replay as text/plain (a form)', () => dpost('/api/dead-letter/replay', { ...dtoken(), 'content-type': 'text/plain' }, '{"all":true}'), 415],
    ['dashboard: replay with broken JSON', () => dpost('/api/dead-letter/replay', dtoken(), '{"callIds": ['), 400],
    ['dashboard: a CORS preflight', () => raw(dash.port, { method: 'OPTIONS', path: '/api/dead-letter/replay', headers: { host: `127.0.0.1:${dash.port}`, origin: 'https://evil.example' } }), 405],
    ['dashboard: an unknown call', () => dget('/api/calls/CALL-nobody'), 404],
    ['dashboard: a 64 KiB header', () => socketText(dash.port, [`GET / HTTP/1.1\r\nHost: 127.0.0.1:${dash.port}\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`]), 431],
    ['dashboard off loopback: the page without the token', () => raw(wide.port, { path: '/', headers: { host: `127.0.0.1:${wide.port}` } }), 401],
    ['dashboard off loopback: /api/summary without the token', () => raw(wide.port, { path: '/api/summary', headers: { host: `127.0.0.1:${wide.port}` } }), 401],
    ['dashboard off loopback: /metrics with a wrong token', () => raw(wide.port, { path: '/metrics', headers: { host: `127.0.0.1:${wide.port}`, authorization: 'Bearer nope' } }), 401],
  ];

  test(`${cases.length} hostile requests: each its own 4xx, never a 5xx`, { timeout: 120_000 }, async () => {
    assert.ok(cases.length >= 40, `${cases.length} cases`);
    const got: string[] = [];
    for (const [name, send, expected, check] of cases) {
      const r = await send().catch((err: unknown) => assert.fail(`${name}: ${String(err)}`));
      got.push(`${name}: ${r.status}`);
      assert.ok(r.status >= 400 && r.status < 500, `${name}: ${r.status} ${r.text.slice(0, 300)}`);
      assert.equal(r.status, expected, `${name}: ${r.text.slice(0, 300)}`);
      check?.(r);
    }
    assert.equal(got.length, cases.length);
  });

  test('afterwards: a good call is still taken and delivered once; the off-loopback dashboard answers with the token; memory stayed bounded', { timeout: 60_000 }, async () => {
    const ok = await json(call({ callId: 'CALL-after-the-storm' }));
    assert.equal(ok.status, 202, ok.text);
    await waitFor('delivered', async () => ((await crmAdmin(rig.crm.url).calls()).some((c) => c.callDetails.callId === 'CALL-after-the-storm') ? true : undefined));
    assert.deepEqual((await crmAdmin(rig.crm.url).calls()).map((c) => c.callDetails.callId), ['CALL-after-the-storm'], 'nothing hostile reached the CRM');
    const basic = `Basic ${Buffer.from(`ops:${WIDE_TOKEN}`).toString('base64')}`;
    assert.equal((await raw(wide.port, { path: '/', headers: { host: `127.0.0.1:${wide.port}`, authorization: basic } })).status, 200);
    assert.equal((await raw(wide.port, { path: '/metrics', headers: { host: `127.0.0.1:${wide.port}`, authorization: `Bearer ${WIDE_TOKEN}` } })).status, 200);
    assert.equal((await dget('/healthz')).status, 200);
    global.gc?.();
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 100 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1024 / 1024)} MB`);
  });
});
