/**
 * Uncertain or certain (docs/architecture.md, "Delivery" → "Uncertain attempts"): first the pure table,
 * one row per failure the client can meet; then the real undici client meeting those failures against
 * the local CRM and raw sockets, to show that it reports the facts the table reads (`code`,
 * `requestSent`, `aborted`) — and that the CRM did store the call in the uncertain rows.
 */
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { attemptCertainty, type AttemptFacts } from '../../src/crm/attempt-certainty.ts';
import type { CrmResult } from '../../src/crm/crm-client.ts';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import { crmAdmin, startTestCrm } from '../helpers/local-crm.ts';
import { samplePayload } from '../local-crm/sample-payload.ts';

const err = (error: 'timeout' | 'network' | 'file', extra: Partial<Extract<CrmResult, { kind: 'error' }>> = {}): CrmResult => ({ kind: 'error', error, message: 'x', durationMs: 1, ...extra });
const answered = (status: number): CrmResult => ({ kind: 'response', status, headers: {}, body: null, durationMs: 1 });

describe('attemptCertainty: the table', () => {
  const rows: [string, AttemptFacts, boolean][] = [
    // Our own deadline (or undici's) before / after the request was written.
    ['timeout before the body was written', err('timeout', { requestSent: false }), false],
    ['timeout after the body was written', err('timeout', { requestSent: true }), true],
    ['timeout, unknown whether written', err('timeout'), true],
    ['UND_ERR_HEADERS_TIMEOUT (undici starts it once the request is sent)', err('timeout', { code: 'UND_ERR_HEADERS_TIMEOUT' }), true],
    ['UND_ERR_BODY_TIMEOUT (the status line came, the rest did not)', err('timeout', { code: 'UND_ERR_BODY_TIMEOUT', requestSent: true }), true],
    ['UND_ERR_CONNECT_TIMEOUT', err('timeout', { code: 'UND_ERR_CONNECT_TIMEOUT', requestSent: false }), false],
    // Connection reset or closed.
    ['ECONNRESET after the body was written', err('network', { code: 'ECONNRESET', requestSent: true }), true],
    ['UND_ERR_SOCKET (other side closed) after the body was written', err('network', { code: 'UND_ERR_SOCKET', requestSent: true }), true],
    ['UND_ERR_SOCKET before the body was written', err('network', { code: 'UND_ERR_SOCKET', requestSent: false }), false],
    ['EPIPE, unknown whether written', err('network', { code: 'EPIPE' }), true],
    // Never reached.
    ['ECONNREFUSED', err('network', { code: 'ECONNREFUSED', requestSent: false }), false],
    ['ECONNREFUSED even when the client could not tell', err('network', { code: 'ECONNREFUSED' }), false],
    ['DNS: ENOTFOUND', err('network', { code: 'ENOTFOUND', requestSent: false }), false],
    ['DNS: EAI_AGAIN', err('network', { code: 'EAI_AGAIN' }), false],
    ['EHOSTUNREACH', err('network', { code: 'EHOSTUNREACH' }), false],
    ['TLS: certificate expired', err('network', { code: 'CERT_HAS_EXPIRED' }), false],
    // Answers: whatever the status, the CRM said what it did.
    ['HTTP 503', answered(503), false],
    ['HTTP 500', answered(500), false],
    ['HTTP 429', answered(429), false],
    ['HTTP 400', answered(400), false],
    ['HTTP 401', answered(401), false],
    ['HTTP 201', answered(201), false],
    // Our own stop().
    ['aborted by stop() after the body was written', err('network', { aborted: true, requestSent: true }), true],
    ['aborted by stop() before the body was written', err('network', { aborted: true, requestSent: false }), false],
    // Not a request failure at all.
    ['the recording could not be read', err('file', { code: 'ENOENT' }), false],
    ['lease expired while in flight', { kind: 'lease-expired' }, true],
  ];
  for (const [name, facts, uncertain] of rows) {
    test(`${name} → ${uncertain ? 'uncertain' : 'certain'}`, () => {
      const verdict = attemptCertainty(facts);
      assert.equal(verdict.uncertain, uncertain);
      assert.ok(verdict.reason.length > 0);
    });
  }
});

/** A raw TCP server; `onSocket` decides what happens to each connection. */
async function rawServer(onSocket: (socket: import('node:net').Socket) => void): Promise<{ url: string; server: Server }> {
  const server = createNetServer(onSocket);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/apis/api/public/call-data`, server };
}

describe('the undici client reports the facts', () => {
  const post = async (url: string, timeoutMs = 400, signal?: AbortSignal): Promise<CrmResult> => {
    const client = createHttpCrmClient({ apiUrl: url, uploadUrl: url, timeoutMs });
    try {
      return await client.postCallData(samplePayload('CALL-CERT-1'), { idempotencyKey: 'k-cert', ...(signal ? { signal } : {}) });
    } finally {
      await client.close();
    }
  };

  test('connection refused: ECONNREFUSED, not sent → certain', async () => {
    const { server, url } = await rawServer((s) => s.destroy());
    await new Promise<void>((done) => server.close(() => done()));
    const r = await post(url);
    assert.equal(r.kind, 'error');
    assert.equal(r.kind === 'error' && r.code, 'ECONNREFUSED');
    assert.equal(r.kind === 'error' && r.requestSent, false);
    assert.equal(attemptCertainty(r).uncertain, false);
  });

  test('DNS failure: a name that cannot resolve → certain', async () => {
    const r = await post('http://crm-upload-test.invalid/apis/api/public/call-data', 3_000);
    assert.equal(r.kind, 'error');
    assert.match((r.kind === 'error' && r.code) || '', /^(ENOTFOUND|EAI_AGAIN|EAI_FAIL)$/);
    assert.equal(r.kind === 'error' && r.requestSent, false);
    assert.equal(attemptCertainty(r).uncertain, false);
  });

  test('the server hangs: our deadline after the request was written → uncertain', async () => {
    const crm = await startTestCrm({ hangRate: 1 });
    try {
      const r = await post(crm.callDataUrl, 300);
      assert.equal(r.kind === 'error' && r.error, 'timeout');
      assert.equal(r.kind === 'error' && r.requestSent, true);
      assert.equal(attemptCertainty(r).uncertain, true);
    } finally {
      await crm.close();
    }
  });

  test('the answer is lost after the CRM stored the call (socket cut) → uncertain, and the CRM holds it', async () => {
    const crm = await startTestCrm({ lostAnswerRate: 1 });
    try {
      const r = await post(crm.callDataUrl, 2_000);
      assert.equal(r.kind, 'error');
      assert.equal(r.kind === 'error' && r.requestSent, true);
      assert.equal(attemptCertainty(r).uncertain, true);
      assert.equal((await crmAdmin(crm.url).calls()).length, 1);
    } finally {
      await crm.close();
    }
  });

  test('reset after the body was written (the server reads it, then destroys the socket) → uncertain', async () => {
    const { server, url } = await rawServer((s) => {
      let seen = '';
      s.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        if (seen.includes('"callId":"CALL-CERT-1"') && seen.trimEnd().endsWith('}')) s.resetAndDestroy();
      });
    });
    try {
      const r = await post(url, 2_000);
      assert.equal(r.kind, 'error');
      assert.equal(r.kind === 'error' && r.error, 'network');
      assert.equal(r.kind === 'error' && r.requestSent, true);
      assert.equal(attemptCertainty(r).uncertain, true);
    } finally {
      server.close();
    }
  });

  test('aborted by our stop() while waiting for the answer → uncertain; aborted before it started → certain', async () => {
    const crm = await startTestCrm({ hangRate: 1 });
    try {
      const controller = new AbortController();
      const pending = post(crm.callDataUrl, 5_000, controller.signal);
      // Abort once the CRM has the request (its log shows it), so that the body was written.
      for (let i = 0; i < 200 && (await crmAdmin(crm.url).stats()).callDataPosts === 0; i++) await new Promise((r) => setTimeout(r, 10));
      controller.abort(new Error('worker stopping'));
      const r = await pending;
      assert.equal(r.kind === 'error' && r.aborted, true);
      assert.equal(r.kind === 'error' && r.requestSent, true);
      assert.equal(attemptCertainty(r).uncertain, true);

      const early = await post(crm.callDataUrl, 5_000, AbortSignal.abort(new Error('stopped before')));
      assert.equal(early.kind === 'error' && early.aborted, true);
      assert.equal(early.kind === 'error' && early.requestSent, false);
      assert.equal(attemptCertainty(early).uncertain, false);
    } finally {
      await crm.close();
    }
  });

  test('an answer, whatever its status, is certain (a 503 from the local CRM)', async () => {
    const crm = await startTestCrm();
    try {
      await crmAdmin(crm.url).faults({ forceStatus: { status: 503 } });
      const r = await post(crm.callDataUrl, 2_000);
      assert.equal(r.kind === 'response' && r.status, 503);
      assert.equal(attemptCertainty(r).uncertain, false);
    } finally {
      await crm.close();
    }
  });
});
