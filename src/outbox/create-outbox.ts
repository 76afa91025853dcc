/**
 * Choose the outbox store from `CRM_OUTBOX` (docs/architecture.md, "Configuration" → Queue): a `redis://` or
 * `rediss://` URL selects BullMQ, anything else is the path of a SQLite file.
 */
import { ConfigError } from '../errors.ts';
import type { RetryPolicy } from '../policy/retry-policy.ts';
import type { OutboxStore } from './outbox-store.ts';
import type { PayloadCipher } from './payload-cipher.ts';
import { openSqliteOutbox, type SqliteWriterMode } from './sqlite-outbox-store.ts';

/** True when `target` names a Redis server rather than a file. */
export function isRedisTarget(target: string): boolean {
  return /^rediss?:\/\//i.test(target.trim());
}

/** Options of `createOutbox`: each says which store reads it. */
export interface CreateOutboxOptions {
  /** The retry policy the BullMQ backoff falls back on (passed by the composition root, `openDelivery`). */
  retryPolicy?: RetryPolicy;
  /** Where start-up warnings go; default stderr. */
  warn?: (message: string) => void;
  /** How payloads are stored at rest (`payloadCipherOf(config)`); default plain. */
  cipher?: PayloadCipher;
  /**
   * SQLite only (ignored for Redis): where the store's writes run, as `SqliteOutboxOptions.writer` of
   * `openSqliteOutbox` (default `'auto'`). `'thread'` commits off the event loop from the first write, for
   * a process whose event loop also answers requests (`serve`); a write still resolves once committed.
   */
  writer?: SqliteWriterMode;
}

/**
 * Open the outbox named by `target` (a SQLite path, resolved against the current directory when
 * relative, or a Redis URL). Throws a ConfigError when it cannot be opened; for Redis the message names
 * the URL without its password.
 */
export async function createOutbox(target: string, options: CreateOutboxOptions = {}): Promise<OutboxStore> {
  if (target.trim() === '') throw new ConfigError('CRM_OUTBOX is empty', { variable: 'CRM_OUTBOX' });
  if (isRedisTarget(target)) {
    // Loaded only when asked for: a SQLite user never pays for BullMQ's start-up.
    const { openBullmqOutbox } = await import('./bullmq-store.ts');
    return openBullmqOutbox(target.trim(), options);
  }
  return openSqliteOutbox(target, { cipher: options.cipher, writer: options.writer });
}
