/**
 * The `Host` allowlist every server of crm-upload applies (dashboard, serve): a server answers only
 * requests whose `Host` names it, so that a web page on another origin cannot reach it through DNS
 * rebinding — the browser would send the attacker's host name (docs/architecture.md, "Security").
 */
import { ConfigError } from '../errors.ts';

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
  if (v === '' || v.length > 300 || /[\s/\\@?#]/.test(v)) return null;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(v);
  if (m?.[1] === undefined) return null;
  return `${m[1]}:${m[2] ?? '80'}`;
}

/**
 * The `Host` values a server answers: `127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`, the bound
 * address itself when it is a specific one, and each `--allow-host` value (`name` means `name:PORT`).
 * A malformed `--allow-host` value is a ConfigError.
 */
export function allowedHosts(bindHost: string, port: number, extra: readonly string[] = []): Set<string> {
  const out = new Set<string>([hostWithPort('127.0.0.1', port), hostWithPort('localhost', port), hostWithPort('::1', port)]);
  if (!isWildcardHost(bindHost)) out.add(hostWithPort(bindHost.replace(/^\[(.*)\]$/, '$1'), port));
  for (const raw of extra) {
    const text = raw.trim().toLowerCase();
    if (text === '') continue;
    // A bare name (or IPv6 address) is that name on the server's own port.
    const hasPort = /^\[[^\]]+\]:\d{1,5}$/.test(text) || /^[^:[\]]+:\d{1,5}$/.test(text);
    const normal = normaliseHostHeader(hasPort ? text : hostWithPort(text.replace(/^\[(.*)\]$/, '$1'), port));
    if (normal === null) throw new ConfigError(`--allow-host must be a host name or host:port, got "${raw}"`);
    out.add(normal);
  }
  return out;
}

/** True when the request's `Host` header names this server (see `allowedHosts`). */
export function hostAllowed(hostHeader: string | undefined | null, allowed: ReadonlySet<string>): boolean {
  const normal = normaliseHostHeader(hostHeader);
  return normal !== null && allowed.has(normal);
}
