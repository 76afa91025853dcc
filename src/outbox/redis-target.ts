/**
 * A `CRM_OUTBOX` Redis URL (docs/architecture.md, "Configuration" → Queue): `redis://[user:password@]host[:port][/db]`
 * or `rediss://…` for TLS, with optional `?queue=NAME&prefix=PREFIX` choosing the BullMQ queue. The URL
 * may carry a password, so everything shown to people goes through `redactRedisUrl`.
 */
import { ConfigError } from '../errors.ts';

/** The BullMQ queue crm-upload uses when the URL names none. */
export const DEFAULT_QUEUE = 'crm-upload';
/** BullMQ's own default key prefix, so that dashboards such as Bull Board find the queue as they are. */
export const DEFAULT_PREFIX = 'bull';

/** A parsed Redis target. */
export interface RedisTarget {
  /** The URL for ioredis, without crm-upload's own query parameters. */
  connectionUrl: string;
  /** The URL with the password replaced by `***`, for messages. */
  shown: string;
  queue: string;
  prefix: string;
  tls: boolean;
}

/** The URL with any password replaced by `***` (and a user name kept), safe to print. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    // Not a URL we can parse: show only its scheme, never what may be a secret.
    return `${url.split(':')[0] ?? 'redis'}://…`;
  }
}

/** Parse a `redis://` / `rediss://` URL; a ConfigError names CRM_OUTBOX (and never the password). */
export function parseRedisTarget(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new ConfigError(`CRM_OUTBOX is not a valid Redis URL: ${redactRedisUrl(url)}`, { variable: 'CRM_OUTBOX' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigError(`CRM_OUTBOX must be a redis:// or rediss:// URL, got ${redactRedisUrl(url)}`, { variable: 'CRM_OUTBOX' });
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new ConfigError(`CRM_OUTBOX: the Redis database must be a number, got "${db}" in ${redactRedisUrl(url)}`, { variable: 'CRM_OUTBOX' });
  }
  const name = (key: string, dflt: string): string => {
    const v = u.searchParams.get(key);
    if (v === null || v === '') return dflt;
    // BullMQ builds keys as prefix:queue:…; a colon inside either would make them ambiguous.
    if (!/^[A-Za-z0-9_.-]+$/.test(v)) {
      throw new ConfigError(`CRM_OUTBOX: ${key} may hold letters, digits, _ . - only, got "${v}"`, { variable: 'CRM_OUTBOX' });
    }
    return v;
  };
  const queue = name('queue', DEFAULT_QUEUE);
  const prefix = name('prefix', DEFAULT_PREFIX);
  const connection = new URL(u.toString());
  connection.search = '';
  return { connectionUrl: connection.toString(), shown: redactRedisUrl(connection.toString()), queue, prefix, tls: u.protocol === 'rediss:' };
}
