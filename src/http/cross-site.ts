/**
 * Refusing requests a browser sends on behalf of another site (CSRF; docs/architecture.md, "Security"):
 * a page anywhere can make a browser POST a form or a no-cors fetch to a server on this machine without
 * any preflight. Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); clients that are
 * not browsers send neither and must hold the token instead.
 */
import { normaliseHostHeader } from './host-allowlist.ts';

/** The headers that tell where a request comes from. */
export interface SiteHeaders {
  origin?: string | null;
  secFetchSite?: string | null;
}

/**
 * Why a request is refused as cross-site, or null when it comes from the server's own origin, from a
 * user's own navigation (`Sec-Fetch-Site: none`), or from a client that is not a browser.
 * `Sec-Fetch-Site` is trusted when present (browsers set it and pages cannot forge it); `Origin`, when
 * present, must be `http://` plus an allowed host. `Origin: null` (sandboxed frames, some redirects) is
 * refused. The reason is for logs and the 403's message.
 */
export function crossSiteReason(headers: SiteHeaders, allowed: ReadonlySet<string>): string | null {
  const site = headers.secFetchSite?.trim().toLowerCase();
  if (site !== undefined && site !== '' && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site is ${site.slice(0, 40)}`;
  const origin = headers.origin?.trim();
  if (origin === undefined || origin === '') return null;
  const shown = origin.slice(0, 100);
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `Origin ${shown} is not an origin`;
  }
  if (url.protocol !== 'http:') return `Origin ${shown} is not this server`;
  const port = url.port === '' ? 80 : Number(url.port);
  const host = normaliseHostHeader(`${url.hostname}:${port}`);
  return host !== null && allowed.has(host) ? null : `Origin ${shown} is not this server`;
}
