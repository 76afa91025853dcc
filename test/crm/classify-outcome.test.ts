import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyOutcome, parseRetryAfter, type Outcome } from '../../src/crm/classify-outcome.ts';
import type { CrmResult } from '../../src/crm/crm-client.ts';

const NOW = Date.parse('2025-10-28T12:00:00Z');

function res(status: number, headers: Record<string, string> = {}, body: unknown = { success: status < 400, message: `status ${status}` }): CrmResult {
  return { kind: 'response', status, headers, body, durationMs: 5 };
}

function err(error: 'timeout' | 'network' | 'file', message: string): CrmResult {
  return { kind: 'error', error, message, durationMs: 5 };
}

// [name, result, expected kind, expected wait ms (for waits), text the reason must contain]
const rows: [string, CrmResult, Outcome['kind'], number | null | undefined, string | undefined][] = [
  ['200', res(200), 'delivered', undefined, undefined],
  ['201', res(201), 'delivered', undefined, undefined],
  ['204 (no body)', res(204, {}, null), 'delivered', undefined, undefined],
  ['409 already exists', res(409, {}, { success: false, message: 'call already exists' }), 'delivered', undefined, undefined],
  ['408', res(408), 'retry', undefined, 'HTTP 408'],
  ['425', res(425), 'retry', undefined, 'HTTP 425'],
  ['429 Retry-After seconds', res(429, { 'retry-after': '7' }), 'wait', 7_000, 'HTTP 429'],
  ['429 Retry-After HTTP-date', res(429, { 'retry-after': new Date(NOW + 90_000).toUTCString() }), 'wait', 90_000, 'HTTP 429'],
  ['429 Retry-After date in the past', res(429, { 'retry-after': new Date(NOW - 5_000).toUTCString() }), 'wait', 0, 'HTTP 429'],
  ['429 without Retry-After', res(429), 'wait', null, 'HTTP 429'],
  ['429 unparseable Retry-After', res(429, { 'retry-after': 'soon' }), 'wait', null, 'HTTP 429'],
  ['429 Retry-After over 10 min is capped', res(429, { 'retry-after': '3600' }), 'wait', 600_000, 'HTTP 429'],
  ['429 HTTP-date over 10 min is capped', res(429, { 'retry-after': new Date(NOW + 3_600_000).toUTCString() }), 'wait', 600_000, 'HTTP 429'],
  ['500', res(500, {}, { success: false, error: 'Internal Server Error' }), 'retry', undefined, 'HTTP 500: Internal Server Error'],
  ['502 (HTML body)', res(502, { 'content-type': 'text/html' }, '<html>Bad gateway</html>'), 'retry', undefined, 'Bad gateway'],
  ['503 without Retry-After', res(503), 'retry', undefined, 'HTTP 503'],
  ['503 with Retry-After', res(503, { 'retry-after': '12' }), 'wait', 12_000, 'HTTP 503'],
  ['504', res(504), 'retry', undefined, 'HTTP 504'],
  ['400 with field errors', res(400, {}, { success: false, message: 'Validation failed', errors: [{ field: 'callDetails.startTime', message: 'must match pattern' }] }), 'dead', undefined, 'callDetails.startTime'],
  // A refused key is about the sender, not the call: retried, delivered once the key is fixed.
  ['401', res(401, {}, { success: false, message: 'Unauthorized' }), 'retry', undefined, 'HTTP 401: Unauthorized (is CRM_API_KEY right?)'],
  ['403', res(403), 'retry', undefined, 'HTTP 403: status 403 (is CRM_API_KEY right?)'],
  ['413', res(413, { 'content-type': 'text/html' }, '<html><title>413 Request Entity Too Large</title></html>'), 'dead', undefined, 'HTTP 413'],
  ['200 with an HTML page', res(200, { 'content-type': 'text/html; charset=utf-8' }, '<!doctype html><html><head><title>Sign in</title></head></html>'), 'retry', undefined, 'HTML page ("Sign in")'],
  ['200 with an HTML body sent as text/plain', res(200, { 'content-type': 'text/plain' }, '  <html><body>Portal</body></html>'), 'retry', undefined, 'HTML page'],
  ['201 with invalid JSON', res(201, { 'content-type': 'application/json' }, '{"success":true,"data":{"id":"'), 'delivered', undefined, undefined],
  ['201 with plain text', res(201, { 'content-type': 'text/plain' }, 'Created'), 'delivered', undefined, undefined],
  ['404', res(404), 'dead', undefined, 'HTTP 404'],
  ['422', res(422), 'dead', undefined, 'HTTP 422'],
  ['network error', err('network', 'ECONNRESET socket hang up'), 'retry', undefined, 'ECONNRESET'],
  ['timeout', err('timeout', 'no complete answer within 30000 ms'), 'retry', undefined, 'timeout'],
  ['unreadable file', err('file', 'ENOENT no such file'), 'dead', undefined, 'ENOENT'],
  ['301', res(301, { location: 'https://elsewhere.example/x' }), 'dead', undefined, 'https://elsewhere.example/x'],
  ['302', res(302, { location: '/login' }), 'dead', undefined, '/login'],
  ['307', res(307, { location: 'https://crm.example/v2' }), 'dead', undefined, 'not followed'],
];

for (const [name, result, kind, ms, reasonPart] of rows) {
  test(`classifyOutcome: ${name} → ${kind}`, () => {
    const outcome = classifyOutcome(result, { now: NOW });
    assert.equal(outcome.kind, kind);
    if (outcome.kind === 'wait') assert.equal(outcome.ms, ms);
    if (reasonPart !== undefined) {
      assert.ok(outcome.kind !== 'delivered', 'a reason is expected');
      assert.ok(outcome.reason.includes(reasonPart), `reason "${outcome.reason}" should contain "${reasonPart}"`);
    }
  });
}

test('classifyOutcome: a request that needs the answer (the upload) retries a 2xx whose body is not JSON', () => {
  const needs = { now: NOW, needsAnswer: true };
  assert.deepEqual(classifyOutcome(res(201, { 'content-type': 'application/json' }, '{"data":{"url":'), needs), {
    kind: 'retry',
    reason: 'HTTP 201 with an answer that is not valid JSON: {"data":{"url":',
  });
  assert.equal(classifyOutcome(res(200, {}, 'OK'), needs).kind, 'retry');
  assert.equal(classifyOutcome(res(200, {}, { success: true, data: { url: 'https://crm/x.ogg' } }), needs).kind, 'delivered');
  // A JSON answer without the URL is the recording step's to judge (it sends the call without it).
  assert.equal(classifyOutcome(res(200, {}, { success: true }), needs).kind, 'delivered');
});

test('classifyOutcome: the Retry-After cap can be changed', () => {
  const outcome = classifyOutcome(res(429, { 'retry-after': '120' }), { now: NOW, retryAfterCapMs: 60_000 });
  assert.deepEqual(outcome, { kind: 'wait', ms: 60_000, reason: 'HTTP 429: status 429' });
});

test('parseRetryAfter: seconds, dates and nonsense', () => {
  assert.equal(parseRetryAfter('0', NOW), 0);
  assert.equal(parseRetryAfter(' 30 ', NOW), 30_000);
  assert.equal(parseRetryAfter('1.5', NOW), 1_500);
  assert.equal(parseRetryAfter('Tue, 28 Oct 2025 12:01:00 GMT', NOW), 60_000);
  assert.equal(parseRetryAfter(undefined, NOW), null);
  assert.equal(parseRetryAfter('', NOW), null);
  assert.equal(parseRetryAfter('-5', NOW), null);
  assert.equal(parseRetryAfter('later', NOW), null);
});
