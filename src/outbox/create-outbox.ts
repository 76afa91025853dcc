/**
 * Choose the outbox store from `CRM_OUTBOX` (DESIGN.md, "Configuration" → Queue): a `redis://` or
 * `rediss://` URL selects BullMQ, anything else is the path of a SQLite file.
 */
import { ConfigError } from '../errors.ts';
import type { OutboxStore } from './outbox-store.ts';
import { openSqliteOutbox } from './sqlite-outbox-store.ts';

/** True when `target` names a Redis server rather than a file. */
export function isRedisTarget(target: string): boolean {
  return /^rediss?:\/\//i.test(target.trim());
}

/**
 * Open the outbox named by `target` (a SQLite path, resolved against the current directory when
 * relative, or a Redis URL). Throws a ConfigError when it cannot be opened.
 */
export async function createOutbox(target: string): Promise<OutboxStore> {
  if (target.trim() === '') throw new ConfigError('CRM_OUTBOX is empty', { variable: 'CRM_OUTBOX' });
  if (isRedisTarget(target)) {
    // The URL is left out of the message on purpose: it may carry a Redis password.
    throw new ConfigError('the BullMQ outbox (a redis:// or rediss:// CRM_OUTBOX) is not available yet; set CRM_OUTBOX to a SQLite file path', {
      variable: 'CRM_OUTBOX',
    });
  }
  return openSqliteOutbox(target);
}
