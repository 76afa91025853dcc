/**
 * What keeps the dashboard safe by default (issue 9): it binds loopback; it answers only requests whose
 * `Host` is in an allowlist, so that a web page on another origin cannot reach it through DNS rebinding
 * (the browser would send the attacker's host name); every mutation needs the start-up token and comes
 * from the dashboard's own origin (CSRF); and it never sends CORS headers, so no other origin can read
 * its answers or send it a request with an `Authorization` header.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.ts';

export { bearerMatches, isLoopbackHost } from '../http/auth.ts';

/** True for an address that listens on every interface (`0.0.0.0`, `::`). */
export function isWildcardHost(host: string): boolean {
  const h = host.trim().replace(/^\[(.*)\]$/, '$1');
  return h === '0.0.0.0' || h === '::' || /^0*(:0*){7}$/.test(h);
}

/** `host:port` as a `Host` header carries it: lower-case, an IPv6 address in brackets. */
export function hostWithPort(host: string, port: number): string {
  const h = host.trim().toLowerCase();
  const bracketed = h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
  return `${bracketed}:${port}`;
}

/**
 * Normalise a `Host` header value to `host:port` (lower-case; the port 80 of plain HTTP when absent), or
 * null when it is not a host at all.
 */
export function normaliseHostHeader(value: string | undefined | null): string | null {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || /[\s/\\@?#]/.test(v)) return null;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(v);
  if (m?.[1] === undefined) return null;
  return `${m[1]}:${m[2] ?? '80'}`;
}

/**
 * The `Host` values the dashboard answers: `127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`, the bound
 * address itself when it is a specific one, and each `--allow-host` value (`name` means `name:PORT`).
 */
export function allowedHosts(bindHost: string, port: number, extra: readonly string[] = []): Set<string> {
  const out = new Set<string>([hostWithPort('127.0.0.1', port), hostWithPort('localhost', port), hostWithPort('::1', port)]);
  if (!isWildcardHost(bindHost)) out.add(hostWithPort(bindHost.replace(/^\[(.*)\]$/, '$1'), port));
  for (const raw of extra) {
    const text = raw.trim().toLowerCase();
    if (text === '') continue;
    // A bare name (or IPv6 address) is that name on the dashboard's own port.
    const hasPort = /^\[[^\]]+\]:\d{1,5}$/.test(text) || /^[^:[\]]+:\d{1,5}$/.test(text);
    const normal = normaliseHostHeader(hasPort ? text : hostWithPort(text.replace(/^\[(.*)\]$/, '$1'), port));
    if (normal === null) throw new ConfigError(`--allow-host must be a host name or host:port, got "${raw}"`);
    out.add(normal);
  }
  return out;
}

/** True when the request's `Host` header names this dashboard (see `allowedHosts`). */
export function hostAllowed(hostHeader: string | undefined | null, allowed: ReadonlySet<string>): boolean {
  const normal = normaliseHostHeader(hostHeader);
  return normal !== null && allowed.has(normal);
}

/**
 * Why a mutation is refused as cross-origin, or null when it comes from the dashboard's own page (or
 * from a client that is not a browser, which sends neither header and must then hold the token).
 * `Sec-Fetch-Site` is trusted when present (browsers set it and pages cannot forge it); `Origin`, when
 * present, must be `http://` plus an allowed host. `Origin: null` (sandboxed frames, some redirects) is
 * refused.
 */
export function crossOriginReason(headers: { origin?: string | null; secFetchSite?: string | null }, allowed: ReadonlySet<string>): string | null {
  const site = headers.secFetchSite?.trim().toLowerCase();
  if (site !== undefined && site !== '' && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site is ${site}`;
  const origin = headers.origin?.trim();
  if (origin === undefined || origin === '') return null;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `Origin ${origin} is not an origin`;
  }
  if (url.protocol !== 'http:') return `Origin ${origin} is not this dashboard`;
  const port = url.port === '' ? 80 : Number(url.port);
  const host = normaliseHostHeader(`${url.hostname}:${port}`);
  return host !== null && allowed.has(host) ? null : `Origin ${origin} is not this dashboard`;
}

/** A fresh random token: 32 bytes, URL-safe (it may travel in a URL fragment). */
export function newDashboardToken(): string {
  return randomBytes(32).toString('base64url');
}

/** A nonce for the Content-Security-Policy of one page. */
export function newNonce(): string {
  return randomBytes(16).toString('base64');
}
