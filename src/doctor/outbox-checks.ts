/**
 * The checks of `crm-upload doctor` on the outbox (docs/architecture.md, "Outbox"): a SQLite file that
 * opens, passes SQLite's own integrity check, can be written, and is not readable by other users (it
 * holds transcripts and personal data); or a Redis that answers, never evicts (BullMQ's keys would
 * vanish under memory pressure) and keeps what it holds on disk. Pure: they read the probes' facts.
 */
import type { CheckResult } from './check.ts';

/** What the probe found about a SQLite outbox file. */
export interface SqliteFacts {
  path: string;
  exists: boolean;
  /** The folder holding it (and its -wal/-shm files) can be written. */
  dirWritable: boolean;
  /** The file can be written; null when it does not exist. */
  fileWritable: boolean | null;
  /** Permission bits of the file; null when it does not exist. */
  mode: number | null;
  /** Why opening or reading it failed; null when it opened. */
  openError: string | null;
  /** `PRAGMA quick_check`'s answer (`ok` when sound); null when not run. */
  integrity: string | null;
}

/** The outbox opens and is sound. */
export function checkSqliteOpens(f: SqliteFacts): CheckResult {
  const id = 'outbox.open';
  const title = 'outbox';
  if (!f.exists) {
    if (f.dirWritable) return { id, title, status: 'ok', detail: `${f.path} does not exist yet; the first run creates it` };
    return { id, title, status: 'fail', detail: `${f.path} does not exist and its folder cannot be created or written`, fix: `create the folder of ${f.path} writable by this user, or set CRM_OUTBOX elsewhere` };
  }
  const broken = f.openError ?? (f.integrity !== null && f.integrity !== 'ok' ? `integrity check: ${f.integrity}` : null);
  if (broken === null) return { id, title, status: 'ok', detail: `${f.path} opens (SQLite, integrity ok)` };
  return {
    id,
    title,
    status: 'fail',
    detail: `${f.path} is damaged or not an outbox: ${broken}`,
    fix:
      `stop every crm-upload process, move it aside (mv ${f.path} ${f.path}.broken, with its -wal and -shm files), then restore your latest backup to ${f.path}; ` +
      'without a backup the next run starts an empty outbox: run bulk over the folders again (calls the CRM already has are sent with the same Idempotency-Key)',
  };
}

/** The outbox and its folder can be written. */
export function checkSqliteWritable(f: SqliteFacts): CheckResult {
  const id = 'outbox.writable';
  const title = 'outbox writable';
  if (!f.exists) return { id, title, status: f.dirWritable ? 'ok' : 'fail', detail: f.dirWritable ? 'its folder is writable' : 'its folder is not writable', ...(f.dirWritable ? {} : { fix: `chmod u+w the folder of ${f.path}` }) };
  if (f.fileWritable === true && f.dirWritable) return { id, title, status: 'ok', detail: 'the file and its folder are writable' };
  const what = f.fileWritable !== true ? f.path : `the folder of ${f.path} (SQLite writes its -wal and -shm files there)`;
  return { id, title, status: 'fail', detail: `${what} cannot be written by this user`, fix: `chmod u+w ${f.fileWritable !== true ? f.path : 'that folder'}, or run crm-upload as its owner` };
}

/** The outbox is readable by its owner only. */
export function checkSqliteMode(f: SqliteFacts): CheckResult {
  const id = 'outbox.mode';
  const title = 'outbox file mode';
  if (f.mode === null) return { id, title, status: 'skip', detail: 'no file yet' };
  const octal = (f.mode & 0o777).toString(8).padStart(3, '0');
  if ((f.mode & 0o044) === 0) return { id, title, status: 'ok', detail: `${octal}: only its owner can read it` };
  return {
    id,
    title,
    status: 'warn',
    detail: `${octal}: readable by ${[(f.mode & 0o040) !== 0 ? 'its group' : null, (f.mode & 0o004) !== 0 ? 'every user' : null].filter((w) => w !== null).join(' and ')}; it holds transcripts and personal data`,
    fix: `chmod 600 ${f.path}`,
  };
}

/** What the probe found about a Redis outbox. */
export interface RedisFacts {
  /** The URL without its password. */
  shown: string;
  /** Why connecting failed; null when it answered PING. */
  connectError: string | null;
  /** Why CONFIG GET failed (managed Redis often refuses it); null when it answered. */
  configError: string | null;
  maxmemoryPolicy: string | null;
  appendonly: string | null;
  save: string | null;
}

/** Redis answers. */
export function checkRedisReachable(f: RedisFacts): CheckResult {
  if (f.connectError === null) return { id: 'redis.reachable', title: 'Redis', status: 'ok', detail: `${f.shown} answers` };
  return { id: 'redis.reachable', title: 'Redis', status: 'fail', detail: `cannot reach ${f.shown}: ${f.connectError}`, fix: 'start Redis, or correct host, port and password in CRM_OUTBOX' };
}

/** Redis never evicts keys. */
export function checkRedisEviction(f: RedisFacts): CheckResult {
  const id = 'redis.maxmemory-policy';
  const title = 'Redis maxmemory-policy';
  if (f.connectError !== null) return { id, title, status: 'skip', detail: 'not checked: Redis did not answer' };
  if (f.maxmemoryPolicy === null) return { id, title, status: 'warn', detail: `cannot read it (${f.configError ?? 'CONFIG GET refused'})`, fix: 'make sure the server runs with maxmemory-policy noeviction (ask your provider)' };
  if (f.maxmemoryPolicy === 'noeviction') return { id, title, status: 'ok', detail: 'noeviction' };
  return {
    id,
    title,
    status: 'fail',
    detail: `${f.maxmemoryPolicy}: under memory pressure Redis may drop queued calls without a word`,
    fix: 'set maxmemory-policy noeviction in redis.conf (and now: redis-cli CONFIG SET maxmemory-policy noeviction)',
  };
}

/** Redis keeps its data on disk (append-only file or snapshots). */
export function checkRedisPersistence(f: RedisFacts): CheckResult {
  const id = 'redis.persistence';
  const title = 'Redis persistence';
  if (f.connectError !== null) return { id, title, status: 'skip', detail: 'not checked: Redis did not answer' };
  if (f.appendonly === null && f.save === null) return { id, title, status: 'warn', detail: `cannot read it (${f.configError ?? 'CONFIG GET refused'})`, fix: 'make sure the server persists its data (appendonly yes), ask your provider' };
  const aof = f.appendonly === 'yes';
  const snapshots = (f.save ?? '').trim() !== '';
  if (aof || snapshots) return { id, title, status: 'ok', detail: [aof ? 'appendonly yes' : null, snapshots ? `save "${f.save}"` : null].filter(Boolean).join(', ') };
  return {
    id,
    title,
    status: 'fail',
    detail: 'appendonly no and no save points: a Redis restart loses every queued call',
    fix: 'set appendonly yes in redis.conf (and now: redis-cli CONFIG SET appendonly yes)',
  };
}
