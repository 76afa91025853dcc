/**
 * `crm-upload rekey` on a BullMQ outbox (docs/architecture.md, "Stores" → "Payload encryption"): every
 * job (the store's start-time index lists them all) whose payload is not under the current key gets its
 * data rewritten, by one script per job that writes only when the data is still what was read and the job
 * is not leased. A job in flight is skipped (its worker writes its data back when it settles): run rekey
 * again once it is final. Payloads are decrypted and sealed here; Redis only sees envelopes.
 */
import type { BullmqOutboxStore } from './bullmq-store.ts';
import { lockKey } from './bullmq-internals.ts';
import { countSkipped, emptyRekeyReport, rekeyValue, type PayloadCipher, type RekeyOptions, type RekeyReport } from './payload-cipher.ts';

const DEFAULT_BATCH = 100;

// KEYS[1] the job hash, KEYS[2] its lock; ARGV[1] the data read, ARGV[2] the data to write.
const SWAP_DATA = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 1`;

/** Rewrite (or with `dryRun` count) the payloads of the store's jobs under `cipher`'s writing key. */
export async function rekeyBullmqOutbox(store: BullmqOutboxStore, cipher: PayloadCipher, options: RekeyOptions = {}): Promise<RekeyReport> {
  const batch = options.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batch) || batch < 1) throw new TypeError(`rekey batch size must be a whole number ≥ 1, got ${batch}`);
  const report = emptyRekeyReport();
  const { prefix, queue } = store.target;
  const keys = { toKey: (name: string): string => `${prefix}:${queue}:${name}` };
  const ids = await store.redis.zrange(store.key('start'), 0, -1);
  for (let i = 0; i < ids.length; i += batch) {
    const slice = ids.slice(i, i + batch);
    const texts = await Promise.all(slice.map((id) => store.redis.hget(keys.toKey(id), 'data')));
    for (const [j, id] of slice.entries()) {
      const text = texts[j];
      // Purged since the index was read.
      if (text === null || text === undefined) continue;
      const data = JSON.parse(text) as { payload: unknown };
      const next = rekeyValue(cipher, id, data.payload, report);
      if (next === null || options.dryRun === true) continue;
      const swapped = await store.redis.eval(SWAP_DATA, 2, keys.toKey(id), lockKey(keys, id), text, JSON.stringify({ ...data, payload: next }));
      if (Number(swapped) !== 1) countSkipped(report, data.payload);
    }
  }
  return report;
}
