/**
 * What keeps the dashboard safe by default (issue 9): it binds loopback; it answers only requests whose
 * `Host` is in an allowlist, so that a web page on another origin cannot reach it through DNS rebinding
 * (the browser would send the attacker's host name); every mutation needs the start-up token and comes
 * from the dashboard's own origin (CSRF); and it never sends CORS headers, so no other origin can read
 * its answers or send it a request with an `Authorization` header.
 */
import { randomBytes } from 'node:crypto';

export { bearerMatches, isLoopbackHost } from '../http/auth.ts';

export { allowedHosts, hostAllowed, hostWithPort, isWildcardHost, normaliseHostHeader } from '../http/host-allowlist.ts';

/**
 * Why a mutation is refused as cross-origin, or null when it comes from the dashboard's own page (or
 * from a client that is not a browser, which must then hold the token). Shared with serve: see
 * `src/http/cross-site.ts`.
 */
export { crossSiteReason as crossOriginReason } from '../http/cross-site.ts';

/** A fresh random token: 32 bytes, URL-safe (it may travel in a URL fragment). */
export function newDashboardToken(): string {
  return randomBytes(32).toString('base64url');
}

/** A nonce for the Content-Security-Policy of one page. */
export function newNonce(): string {
  return randomBytes(16).toString('base64');
}
