/**
 * The pure checks of `crm-upload doctor`, table-tested: each fact gives its status, and every status
 * other than ✓ and - carries a fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { doctorExitCode, formatCheck, type CheckResult } from '../../src/doctor/check.ts';
import { checkCrmUrl, checkRequiredIds, checkToken } from '../../src/doctor/config-checks.ts';
import { checkClock, checkCrmAnswer, checkTls } from '../../src/doctor/crm-checks.ts';
import { checkFolder } from '../../src/doctor/folder-checks.ts';
import {
  checkRedisEviction,
  checkRedisPersistence,
  checkRedisReachable,
  checkSqliteMode,
  checkSqliteOpens,
  checkSqliteWritable,
  type RedisFacts,
  type SqliteFacts,
} from '../../src/doctor/outbox-checks.ts';
import type { CrmResult } from '../../src/crm/crm-client.ts';

function assertFixWhenNeeded(r: CheckResult): void {
  if (r.status === 'warn' || r.status === 'fail') assert.ok(r.fix && r.fix.length > 0, `${r.id} ${r.status} has a fix`);
}

test('required ids: every missing one is named', () => {
  const all = { CRM_CAMPAIGN_ID: 'c', CRM_VOICE_AGENT_ID: 'a', CRM_CLIENT_ID: 'k' };
  assert.equal(checkRequiredIds(all).status, 'ok');
  const r = checkRequiredIds({ CRM_CAMPAIGN_ID: 'c', CRM_VOICE_AGENT_ID: '  ' });
  assert.equal(r.status, 'fail');
  assert.match(r.detail, /^CRM_VOICE_AGENT_ID, CRM_CLIENT_ID not set/);
  assert.match(r.fix ?? '', /set CRM_VOICE_AGENT_ID, CRM_CLIENT_ID/);
});

test('CRM URLs: https anywhere, http only on loopback; usable only when the key may be sent there', () => {
  const table: [string, 'ok' | 'fail', boolean][] = [
    ['https://crm.example.com/apis/api/public/call-data', 'ok', true],
    ['http://127.0.0.1:8080/apis/api/public/call-data', 'ok', true],
    ['http://localhost/x', 'ok', true],
    ['http://[::1]:9/x', 'ok', true],
    ['http://crm.example.com/x', 'fail', false],
    ['http://10.0.0.5/x', 'fail', false],
    ['ftp://crm.example.com/x', 'fail', false],
    ['not a url', 'fail', false],
  ];
  for (const [url, status, usable] of table) {
    const c = checkCrmUrl('CRM_API_URL', url);
    assert.equal(c.result.status, status, url);
    assert.equal(c.usable !== null, usable, url);
    assertFixWhenNeeded(c.result);
  }
  assert.match(checkCrmUrl('CRM_API_URL', 'http://crm.example.com/a').result.fix ?? '', /https:\/\/crm\.example\.com\/a/);
  // Accepted knowingly (CRM_ALLOW_INSECURE=1): a warning, and the URL may be used.
  const insecure = checkCrmUrl('CRM_API_URL', 'http://crm.example.com/a', true);
  assert.deepEqual([insecure.result.status, insecure.usable?.host], ['warn', 'crm.example.com']);
  // A password in the URL is never shown.
  assert.doesNotMatch(checkCrmUrl('CRM_API_URL', 'https://u:secret@crm.example.com/a').result.detail, /secret/);
});

test('tokens: unset is not applicable, fewer than 32 characters fails', () => {
  assert.equal(checkToken('CRM_INGEST_TOKEN', null).status, 'skip');
  assert.equal(checkToken('CRM_INGEST_TOKEN', 'x'.repeat(31)).status, 'fail');
  assert.equal(checkToken('CRM_INGEST_TOKEN', 'x'.repeat(32)).status, 'ok');
  assert.doesNotMatch(JSON.stringify(checkToken('CRM_DASHBOARD_TOKEN', 'tiny-secret')), /tiny-secret/, 'the token itself is never shown');
});

const answer = (status: number, headers: Record<string, string> = {}): CrmResult => ({ kind: 'response', status, headers, body: {}, durationMs: 12 });
const failure = (message: string, error: 'network' | 'timeout' = 'network'): CrmResult => ({ kind: 'error', error, message, durationMs: 10_000 });

test('CRM answer: 2xx passes; 401/403 name the key, 404 the URL; a network failure names what to check', () => {
  const table: [CrmResult, 'ok' | 'fail', RegExp][] = [
    [answer(200), 'ok', /answered 200/],
    [answer(401), 'fail', /CRM_API_KEY/],
    [answer(403), 'fail', /CRM_API_KEY/],
    [answer(404), 'fail', /call-data endpoint/],
    [answer(429), 'fail', /CRM_RATE_LIMIT/],
    [answer(503), 'fail', /refused/],
    [failure('connect ECONNREFUSED 127.0.0.1:1'), 'fail', /CRM_API_URL/],
    [failure('', 'timeout'), 'fail', /CRM_API_URL/],
  ];
  for (const [result, status, words] of table) {
    const r = checkCrmAnswer(result, 'https://crm.example.com/c');
    assert.equal(r.status, status, JSON.stringify(result));
    assert.match(`${r.detail} ${r.fix ?? ''}`, words);
    assertFixWhenNeeded(r);
  }
});

test('TLS: an https answer proves the certificate; a certificate error fails; http on loopback has none', () => {
  const https = new URL('https://crm.example.com/c');
  assert.equal(checkTls(https, answer(200)).status, 'ok');
  assert.equal(checkTls(https, answer(500)).status, 'ok', 'any answer means the handshake succeeded');
  for (const m of ['self-signed certificate', 'unable to verify the first certificate', 'certificate has expired', "Hostname/IP does not match certificate's altnames"]) {
    const r = checkTls(https, failure(m));
    assert.equal(r.status, 'fail', m);
    assert.match(r.fix ?? '', /NODE_EXTRA_CA_CERTS/);
  }
  assert.equal(checkTls(https, failure('connect ECONNREFUSED')).status, 'skip');
  assert.equal(checkTls(new URL('http://127.0.0.1/c'), answer(200)).status, 'skip');
});

test('clock: within 60 s of the CRM passes, beyond fails, no Date warns', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const at = (iso: string) => answer(200, { date: new Date(iso).toUTCString() });
  assert.equal(checkClock(at('2026-01-01T12:00:00Z'), now).status, 'ok');
  assert.equal(checkClock(at('2026-01-01T11:59:01Z'), now).status, 'ok');
  assert.equal(checkClock(at('2026-01-01T12:00:59Z'), now).status, 'ok');
  const ahead = checkClock(at('2026-01-01T11:58:00Z'), now);
  assert.equal(ahead.status, 'fail');
  assert.match(ahead.detail, /ahead of the CRM by 120 s/);
  assert.match(checkClock(at('2026-01-01T12:05:00Z'), now).detail, /behind the CRM by 300 s/);
  assert.equal(checkClock(answer(200), now).status, 'warn');
  assert.equal(checkClock(failure('x'), now).status, 'skip');
});

const sqlite = (over: Partial<SqliteFacts>): SqliteFacts => ({ path: '/o/outbox.db', exists: true, dirWritable: true, fileWritable: true, mode: 0o600, openError: null, integrity: 'ok', ...over });

test('SQLite outbox: sound, damaged (with how to recover), not yet created, not writable, readable by others', () => {
  assert.equal(checkSqliteOpens(sqlite({})).status, 'ok');
  for (const broken of [sqlite({ openError: 'file is not a database' }), sqlite({ integrity: '*** in database main *** Page 3: btreeInitPage() returns error code 11' })]) {
    const r = checkSqliteOpens(broken);
    assert.equal(r.status, 'fail');
    assert.match(r.fix ?? '', /move it aside \(mv \/o\/outbox\.db \/o\/outbox\.db\.broken/);
    assert.match(r.fix ?? '', /restore your latest backup/);
  }
  assert.equal(checkSqliteOpens(sqlite({ exists: false, fileWritable: null, mode: null, integrity: null })).status, 'ok');
  assert.equal(checkSqliteOpens(sqlite({ exists: false, dirWritable: false, fileWritable: null, mode: null, integrity: null })).status, 'fail');
  assert.equal(checkSqliteWritable(sqlite({})).status, 'ok');
  assert.equal(checkSqliteWritable(sqlite({ fileWritable: false })).status, 'fail');
  assert.equal(checkSqliteWritable(sqlite({ dirWritable: false })).status, 'fail');
  assert.equal(checkSqliteMode(sqlite({ mode: 0o600 })).status, 'ok');
  assert.equal(checkSqliteMode(sqlite({ mode: 0o640 })).status, 'warn');
  const open = checkSqliteMode(sqlite({ mode: 0o644 }));
  assert.deepEqual([open.status, open.detail.startsWith('644: readable by its group and every user'), open.fix], ['warn', true, 'chmod 600 /o/outbox.db']);
  assert.equal(checkSqliteMode(sqlite({ mode: null })).status, 'skip');
});

const redis = (over: Partial<RedisFacts>): RedisFacts => ({ shown: 'redis://h:6379', connectError: null, configError: null, maxmemoryPolicy: 'noeviction', appendonly: 'yes', save: '', ...over });

test('Redis: reachable, noeviction, persistence by AOF or snapshots; CONFIG refused warns', () => {
  assert.deepEqual([checkRedisReachable(redis({})).status, checkRedisEviction(redis({})).status, checkRedisPersistence(redis({})).status], ['ok', 'ok', 'ok']);
  assert.equal(checkRedisPersistence(redis({ appendonly: 'no', save: '3600 1' })).status, 'ok');
  const none = checkRedisPersistence(redis({ appendonly: 'no', save: '' }));
  assert.equal(none.status, 'fail');
  assert.match(none.fix ?? '', /appendonly yes/);
  assert.equal(checkRedisEviction(redis({ maxmemoryPolicy: 'allkeys-lru' })).status, 'fail');
  const down = redis({ connectError: 'connect ECONNREFUSED' });
  assert.deepEqual([checkRedisReachable(down).status, checkRedisEviction(down).status, checkRedisPersistence(down).status], ['fail', 'skip', 'skip']);
  const managed = redis({ configError: "ERR unknown command 'CONFIG'", maxmemoryPolicy: null, appendonly: null, save: null });
  assert.deepEqual([checkRedisEviction(managed).status, checkRedisPersistence(managed).status], ['warn', 'warn']);
});

test('folders: missing, not a folder, unreadable, fine', () => {
  const f = { variable: 'CRM_LEADS_DIR', path: '/d', exists: true, isDirectory: true, readable: true };
  assert.equal(checkFolder(f).status, 'ok');
  assert.match(checkFolder({ ...f, exists: false }).fix ?? '', /mkdir -p \/d/);
  assert.equal(checkFolder({ ...f, isDirectory: false }).status, 'fail');
  assert.equal(checkFolder({ ...f, readable: false }).status, 'fail');
});

test('report lines and exit code: ✗ with its fix; warnings do not fail', () => {
  const ok: CheckResult = { id: 'a', title: 'A', status: 'ok', detail: 'fine' };
  const warn: CheckResult = { id: 'b', title: 'B', status: 'warn', detail: 'meh', fix: 'do x' };
  const fail: CheckResult = { id: 'c', title: 'C', status: 'fail', detail: 'broken', fix: 'do y' };
  assert.equal(formatCheck(ok), '✓ A: fine');
  assert.equal(formatCheck(warn), '! B: meh — fix: do x');
  assert.equal(formatCheck(fail), '✗ C: broken — fix: do y');
  assert.equal(doctorExitCode([ok, warn]), 0);
  assert.equal(doctorExitCode([ok, warn, fail]), 1);
});
