/**
 * Checks every server of crm-upload shares (serve, dashboard, metrics): whether an address only takes
 * connections from this machine, and a Bearer token compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * True when `host` only accepts connections from this machine: `localhost`, `127.0.0.0/8`, `::1` (also
 * bracketed) and IPv4-mapped loopback. Wildcards (`0.0.0.0`, `::`) and every other name are not.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) {
    if (h === '::1' || /^0*(:0*){6}:0*1$/.test(h)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped?.[1] !== undefined && mapped[1].startsWith('127.');
  }
  return false;
}

/** sha256 of a text: both sides of the comparison get the same length whatever the client sent. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * True when an `Authorization` header is HTTP Basic whose password is `token` (any user name): how a
 * browser sends a token it prompted for. Compared in constant time, as `bearerMatches`.
 */
export function basicPasswordMatches(header: string | undefined | null, token: string): boolean {
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]{1,4096})$/i.exec((header ?? '').trim());
  const decoded = m?.[1] === undefined ? '' : Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const given = colon < 0 ? '' : decoded.slice(colon + 1);
  const equal = timingSafeEqual(digest(given), digest(token));
  return equal && colon >= 0;
}

/**
 * True when an `Authorization` header carries exactly `Bearer <token>`. The comparison takes the same
 * time whatever the header holds (the digests are compared in constant time), so that the token cannot
 * be guessed byte by byte from response times.
 */
export function bearerMatches(header: string | undefined | null, token: string): boolean {
  const m = /^Bearer[ \t]+(.*)$/i.exec(header ?? '');
  const given = m?.[1]?.trim() ?? '';
  // Compared even when the header is missing, so a missing header costs the same as a wrong one.
  const equal = timingSafeEqual(digest(given), digest(token));
  return equal && m !== null;
}
