/**
 * The I/O of `crm-upload doctor`: each probe gathers facts (a file's mode, a Redis setting, the CRM's
 * answer) and never judges them; the checks beside it do. Probes never write: the outbox is opened
 * read-only and nothing is created.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { CrmResult } from '../crm/crm-client.ts';
import { createHttpCrmClient } from '../crm/http-crm-client.ts';
import { parseRedisTarget, redactRedisUrl } from '../outbox/redis-target.ts';
import type { FolderFacts } from './folder-checks.ts';
import type { RedisFacts, SqliteFacts } from './outbox-checks.ts';
import type { OutboxKeyFacts } from './key-checks.ts';
import { createPayloadCipher, isEnvelope, type PayloadCipher } from '../outbox/payload-cipher.ts';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function can(path: string, mode: number): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

/** The nearest folder of `path` that exists (where the first run would create what is missing). */
async function nearestExisting(path: string): Promise<string> {
  let dir = dirname(path);
  for (;;) {
    try {
      if ((await stat(dir)).isDirectory()) return dir;
    } catch {
      // not there: look one level up
    }
    const up = dirname(dir);
    if (up === dir) return dir;
    dir = up;
  }
}

/** The answer to `GET call-data?limit=1` (creates nothing), and our clock when it came. */
export async function probeCrm(options: { apiUrl: string; uploadUrl: string; apiKey: string | null; timeoutMs: number }): Promise<{ result: CrmResult; receivedAt: number }> {
  const client = createHttpCrmClient({ ...options, connections: 1 });
  try {
    const result = await client.listCallData({ limit: 1 });
    return { result, receivedAt: Date.now() };
  } finally {
    await client.close();
  }
}

/** Facts about a SQLite outbox, opened read-only. */
export async function probeSqlite(path: string): Promise<SqliteFacts> {
  let info: Awaited<ReturnType<typeof stat>> | null = null;
  try {
    info = await stat(path);
  } catch {
    info = null;
  }
  const dirWritable = await can(info === null ? await nearestExisting(path) : dirname(path), constants.W_OK | constants.X_OK);
  if (info === null) return { path, exists: false, dirWritable, fileWritable: null, mode: null, openError: null, integrity: null };
  const facts: SqliteFacts = { path, exists: true, dirWritable, fileWritable: await can(path, constants.W_OK), mode: Number(info.mode) & 0o777, openError: null, integrity: null };
  let db: DatabaseSync | null = null;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    const row = db.prepare('PRAGMA quick_check(1)').get() as Record<string, unknown> | undefined;
    facts.integrity = String(Object.values(row ?? {})[0] ?? 'no answer');
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
    if (Number(tables.n) === 0) facts.openError = 'it holds no tables (not an outbox)';
  } catch (err) {
    facts.openError = message(err);
  } finally {
    db?.close();
  }
  return facts;
}

/** Facts about a Redis outbox: PING, then the settings that decide whether it keeps what it is given. */
export async function probeRedis(url: string, timeoutMs: number): Promise<RedisFacts> {
  let target: ReturnType<typeof parseRedisTarget>;
  try {
    target = parseRedisTarget(url);
  } catch (err) {
    return { shown: redactRedisUrl(url), connectError: message(err), configError: null, maxmemoryPolicy: null, appendonly: null, save: null };
  }
  const facts: RedisFacts = { shown: target.shown, connectError: null, configError: null, maxmemoryPolicy: null, appendonly: null, save: null };
  // Loaded only for a Redis outbox, as the store itself is.
  const { Redis } = await import('ioredis');
  const redis = new Redis(target.connectionUrl, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // A failed connection is reported through connect(); the client must not also throw it as an event.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    facts.connectError = message(err);
    redis.disconnect();
    return facts;
  }
  const read = async (key: string): Promise<string | null> => {
    try {
      const [, value] = (await redis.config('GET', key)) as [string?, string?];
      return value ?? null;
    } catch (err) {
      facts.configError = message(err);
      return null;
    }
  };
  facts.maxmemoryPolicy = await read('maxmemory-policy');
  facts.appendonly = await read('appendonly');
  facts.save = await read('save');
  redis.disconnect();
  return facts;
}

/** Facts about one configured folder. */
export async function probeFolder(variable: string, path: string): Promise<FolderFacts> {
  try {
    const info = await stat(path);
    return { variable, path, exists: true, isDirectory: info.isDirectory(), readable: await can(path, constants.R_OK | constants.X_OK) };
  } catch {
    return { variable, path, exists: false, isDirectory: false, readable: false };
  }
}

// How many of the newest jobs of a Redis outbox the key probe reads (a SQLite outbox is counted whole).
const KEY_PROBE_JOBS = 1000;

/**
 * Facts about the outbox's keys (`CRM_OUTBOX_KEY`, `CRM_OUTBOX_OLD_KEYS`): whether they parse, the stored
 * payloads by key id, and whether the newest payload opens. Read-only, like the other probes.
 */
export async function probeOutboxKey(options: { key: string | null; oldKeys: string | null; outbox: string; redis: boolean; timeoutMs: number }): Promise<OutboxKeyFacts> {
  const facts: OutboxKeyFacts = { keyError: null, writeKid: null, readKids: [], byKid: null, scope: options.redis ? 'newest' : 'all', sampleCallId: null, sampleError: null };
  let cipher: PayloadCipher;
  try {
    cipher = createPayloadCipher({ key: options.key, oldKeys: (options.oldKeys ?? '').split(',').filter((k) => k.trim() !== '') });
  } catch (err) {
    facts.keyError = message(err);
    return facts;
  }
  facts.writeKid = cipher.writeKid;
  facts.readKids = cipher.readKids;
  // The stored payloads, newest last: [callId, stored value].
  let stored: [string, unknown][] = [];
  try {
    if (options.redis) {
      const target = parseRedisTarget(options.outbox);
      const { Redis } = await import('ioredis');
      const redis = new Redis(target.connectionUrl, { lazyConnect: true, connectTimeout: options.timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on('error', () => undefined);
      try {
        await redis.connect();
        const ids = await redis.zrange(`${target.prefix}:${target.queue}:crm:start`, -KEY_PROBE_JOBS, -1);
        const texts = await Promise.all(ids.map((id) => redis.hget(`${target.prefix}:${target.queue}:${id}`, 'data')));
        stored = ids.flatMap((id, i) => (texts[i] ? [[id, (JSON.parse(texts[i] as string) as { payload: unknown }).payload] as [string, unknown]] : []));
      } finally {
        redis.disconnect();
      }
    } else {
      try {
        await stat(options.outbox);
      } catch {
        facts.byKid = {};
        return facts;
      }
      const db = new DatabaseSync(options.outbox, { readOnly: true });
      try {
        // Counted in SQL (one pass, no payload in memory); only the newest payload is read.
        const rows = db.prepare("SELECT coalesce(json_extract(payload, '$.kid'), 'plain') AS kid, count(*) AS n FROM outbox GROUP BY 1").all() as { kid: string; n: number }[];
        facts.byKid = Object.fromEntries(rows.map((r) => [String(r.kid), Number(r.n)]));
        const newest = db.prepare('SELECT call_id, payload FROM outbox ORDER BY rowid DESC LIMIT 1').get() as { call_id: string; payload: string } | undefined;
        stored = newest === undefined ? [] : [[newest.call_id, JSON.parse(newest.payload)]];
      } finally {
        db.close();
      }
    }
  } catch {
    // The outbox checks say why it cannot be read.
    return facts;
  }
  if (facts.byKid === null) {
    const byKid: Record<string, number> = {};
    for (const [, value] of stored) {
      const kid = isEnvelope(value) ? value.kid : 'plain';
      byKid[kid] = (byKid[kid] ?? 0) + 1;
    }
    facts.byKid = byKid;
  }
  const newest = stored.at(-1);
  if (newest !== undefined) {
    facts.sampleCallId = newest[0];
    const kid = isEnvelope(newest[1]) ? newest[1].kid : null;
    // An unknown key id is the check's own failure (it names the key); the sample tests the others.
    if (kid === null || cipher.readKids.includes(kid)) {
      try {
        cipher.open(newest[0], newest[1]);
      } catch (err) {
        facts.sampleError = message(err);
      }
    }
  }
  return facts;
}
