/**
 * Shared set-up of the worker tests: a fresh SQLite outbox in a temporary folder, an HTTP client to a
 * local CRM, and enqueueing of test payloads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CrmClient } from '../../src/crm/crm-client.ts';
import { createHttpCrmClient } from '../../src/crm/http-crm-client.ts';
import type { NewOutboxItem, OutboxStore } from '../../src/outbox/outbox-store.ts';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import type { WorkerConfig } from '../../src/worker/worker.ts';
import { makePayload } from '../helpers/payloads.ts';
import { OGG_RECORDING } from '../helpers/fixtures.ts';

/** The recording fixture (143347 bytes of Ogg Opus). */
export const RECORDING_FIXTURE = OGG_RECORDING;
/** Its size in bytes. */
export const RECORDING_FIXTURE_SIZE = 143_347;

/** Fast settings for tests: no pacing, a short schedule. */
export function testConfig(over: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    timeoutMs: 2_000,
    rateLimit: 0,
    concurrency: 8,
    maxAttempts: 10,
    retryScheduleMs: [20, 50, 100],
    recordingWaitMs: 2_000,
    ...over,
  };
}

/** A temporary folder removed by `cleanup()`. */
export function tempDir(prefix = 'crm-worker-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An outbox and a client wired to the CRM at `crmUrl`; `close()` releases both and the folder. */
export function setup(crmUrl: string, config: WorkerConfig): { store: OutboxStore; client: CrmClient; dbPath: string; close: () => Promise<void> } {
  const { dir, cleanup } = tempDir();
  const dbPath = join(dir, 'outbox.db');
  const store = openSqliteOutbox(dbPath);
  const origin = crmUrl.replace(/\/+$/, '');
  const client = createHttpCrmClient({
    apiUrl: `${origin}/apis/api/public/call-data`,
    uploadUrl: `${origin}/apis/api/public/upload`,
    timeoutMs: config.timeoutMs,
  });
  return {
    store,
    client,
    dbPath,
    close: async () => {
      await client.close();
      await store.close();
      cleanup();
    },
  };
}

/** Items `from … from+count-1` of `makePayload`. */
export function items(count: number, from = 0, recordingPath: string | null = null): NewOutboxItem[] {
  return Array.from({ length: count }, (_, k) => {
    const payload = makePayload(from + k);
    return { callId: payload.callDetails.callId, payload, recordingPath, sourceFile: `/data/call-${from + k}.json` };
  });
}

/** Group request records by callId. */
export function byCallId<T extends { callId: string | null }>(records: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of records) {
    if (r.callId === null) continue;
    const list = out.get(r.callId) ?? [];
    list.push(r);
    out.set(r.callId, list);
  }
  return out;
}
