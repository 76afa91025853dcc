/**
 * Redis for the tests (CONTRIBUTING.md, "Tests"): `REDIS_URL ?? redis://127.0.0.1:6379`. Where `REDIS_URL` is set or
 * `CI=true`, Redis is required and a missing one fails the tests; elsewhere they skip with the reason.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis the tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when a missing Redis must fail the tests rather than skip them. */
export const REDIS_REQUIRED = process.env.REDIS_URL !== undefined || process.env.CI === 'true';

/** Whether Redis answers a PING within a second. */
export async function redisAnswers(url: string = REDIS_URL): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * How the Redis tests of a file run: `null` when they run (Redis answers, or it is required and a
 * missing one must then fail them), else the reason they are skipped.
 */
export async function redisSkipReason(): Promise<string | null> {
  if (REDIS_REQUIRED) return null;
  return (await redisAnswers()) ? null : `no Redis at ${REDIS_URL} (set REDIS_URL, or start redis-server, to run these tests)`;
}

/** A `CRM_OUTBOX` URL on its own queue prefix, so that tests never see each other's jobs. */
export function redisOutboxUrl(label = 'test'): { url: string; prefix: string } {
  const prefix = `crmtest-${label}-${randomUUID().slice(0, 8)}`;
  const u = new URL(REDIS_URL);
  u.searchParams.set('prefix', prefix);
  return { url: u.toString(), prefix };
}

/** Delete every key under `prefix` (what a test left behind). */
export async function dropPrefix(prefix: string, url: string = REDIS_URL): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
