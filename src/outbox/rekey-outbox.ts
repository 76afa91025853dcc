/**
 * `crm-upload rekey` for either store (docs/architecture.md, "Stores" → "Payload encryption"): rewrites
 * every payload under the current `CRM_OUTBOX_KEY`, plain ones and those under old keys alike, in small
 * batches that a running worker hardly notices. A record no configured key opens stops it with an
 * OutboxKeyError naming the key id: never skipped.
 */
import type { OutboxStore } from './outbox-store.ts';
import type { PayloadCipher, RekeyOptions, RekeyReport } from './payload-cipher.ts';
import { rekeySqliteOutbox } from './sqlite-rekey.ts';
import { SqliteOutboxStore } from './sqlite-outbox-store.ts';

/** Rekey the payloads of `store` (open, SQLite or BullMQ) under `cipher`'s writing key; with `dryRun` only count. */
export async function rekeyOutbox(store: OutboxStore, cipher: PayloadCipher, options: RekeyOptions = {}): Promise<RekeyReport> {
  if (store instanceof SqliteOutboxStore) return rekeySqliteOutbox(store.path, cipher, options);
  // Loaded only when asked for: a SQLite user never pays for BullMQ's start-up.
  const { BullmqOutboxStore } = await import('./bullmq-store.ts');
  const { rekeyBullmqOutbox } = await import('./bullmq-rekey.ts');
  if (store instanceof BullmqOutboxStore) return rekeyBullmqOutbox(store, cipher, options);
  throw new TypeError('rekey works on the SQLite and BullMQ outboxes only');
}
