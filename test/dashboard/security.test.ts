/**
 * The dashboard's safety rules as pure functions: which `Host` values are answered, which requests
 * count as cross-origin, the Bearer comparison, and the tokens.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowedHosts, bearerMatches, crossOriginReason, hostAllowed, isLoopbackHost, newDashboardToken, normaliseHostHeader } from '../../src/dashboard/security.ts';

test('the Host allowlist: loopback names on the port, the bound address, --allow-host values', () => {
  const a = allowedHosts('127.0.0.1', 8788);
  assert.deepEqual([...a].sort(), ['127.0.0.1:8788', '[::1]:8788', 'localhost:8788']);
  for (const ok of ['127.0.0.1:8788', 'LOCALHOST:8788', '[::1]:8788', ' localhost:8788 ']) assert.equal(hostAllowed(ok, a), true, ok);
  for (const bad of ['127.0.0.1', '127.0.0.1:8789', 'evil.example:8788', 'localhost.evil.example:8788', '127.0.0.1:8788@evil', '', undefined, 'a b:8788', '127.0.0.2:8788']) {
    assert.equal(hostAllowed(bad, a), false, String(bad));
  }
  const b = allowedHosts('10.0.0.5', 9000, ['dash.internal', 'proxy.example:443', '[fd00::1]', 'fd00::2']);
  for (const ok of ['10.0.0.5:9000', 'dash.internal:9000', 'proxy.example:443', '[fd00::1]:9000', '[fd00::2]:9000']) assert.equal(hostAllowed(ok, b), true, ok);
  assert.equal(hostAllowed('dash.internal:443', b), false);
  assert.equal(allowedHosts('0.0.0.0', 80).has('0.0.0.0:80'), false, 'a wildcard is not a name anyone uses');
  assert.equal(hostAllowed('localhost', allowedHosts('127.0.0.1', 80)), true, 'no port means 80');
  assert.throws(() => allowedHosts('127.0.0.1', 1, ['bad host']), /--allow-host/);
  assert.equal(normaliseHostHeader('[::1]:80'), '[::1]:80');
});

test('cross-origin: Sec-Fetch-Site and Origin, when present, must say same origin', () => {
  const a = allowedHosts('127.0.0.1', 8788);
  assert.equal(crossOriginReason({}, a), null, 'curl and scripts send neither (and must hold the token)');
  assert.equal(crossOriginReason({ secFetchSite: 'same-origin', origin: 'http://127.0.0.1:8788' }, a), null);
  assert.equal(crossOriginReason({ secFetchSite: 'none' }, a), null);
  assert.equal(crossOriginReason({ origin: 'http://localhost:8788' }, a), null);
  assert.match(crossOriginReason({ secFetchSite: 'cross-site' }, a) ?? '', /Sec-Fetch-Site is cross-site/);
  assert.match(crossOriginReason({ secFetchSite: 'same-site' }, a) ?? '', /same-site/);
  assert.match(crossOriginReason({ origin: 'http://127.0.0.1:9999' }, a) ?? '', /not this server/);
  assert.match(crossOriginReason({ origin: 'https://127.0.0.1:8788' }, a) ?? '', /not this server/);
  assert.match(crossOriginReason({ origin: 'null' }, a) ?? '', /not an origin/);
});

test('Bearer tokens: exact match only; tokens are random and URL-safe', () => {
  const token = 'abcdefghijklmnop0123';
  assert.equal(bearerMatches(`Bearer ${token}`, token), true);
  assert.equal(bearerMatches(`bearer   ${token} `, token), true);
  for (const bad of [undefined, '', token, `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(1)}`, 'Bearer ']) assert.equal(bearerMatches(bad, token), false, String(bad));
  const a = newDashboardToken();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, newDashboardToken());
  assert.equal(isLoopbackHost('127.0.0.1'), true);
  assert.equal(isLoopbackHost('[::1]'), true);
  assert.equal(isLoopbackHost('0.0.0.0'), false);
});
