/**
 * The folders recordings come from that crm-upload vouches for (docs/architecture.md, "Security" → "The
 * ingest door"): `CRM_RECORDINGS_DIR`, where `serve`'s `recordingPath` must lie, and the folder where
 * `serve` keeps uploaded recordings. A recording whose path lies in one of them must really be there when
 * a worker uploads it (`src/fs/open-recording.ts`), whichever process runs that worker.
 */
import { dirname, join, resolve } from 'node:path';
import type { Config } from './config.ts';

/** Folder `name` beside a SQLite outbox (on the same disk), or under `.crm-upload/` with a Redis outbox. */
function besideOutbox(config: Pick<Config, 'outbox' | 'cwd'>, name: string): string {
  return /^rediss?:\/\//i.test(config.outbox) ? resolve(config.cwd, '.crm-upload', name) : join(dirname(config.outbox), name);
}

/** The default folder of recordings uploaded to `serve`: beside a SQLite outbox, else `.crm-upload/ingest-recordings/`. */
export function defaultUploadsDir(config: Pick<Config, 'outbox' | 'cwd'>): string {
  return besideOutbox(config, 'ingest-recordings');
}

/**
 * Where a bulk run keeps its plan file while it runs (`src/bulk/plan-store.ts`): beside the SQLite outbox,
 * on the same disk, or under `.crm-upload/` with a Redis outbox.
 */
export function defaultPlanDir(config: Pick<Config, 'outbox' | 'cwd'>): string {
  return besideOutbox(config, 'plans');
}

/** The folders whose recordings are confined at upload: the default uploads folder and `CRM_RECORDINGS_DIR`. */
export function confinedRecordingFolders(config: Pick<Config, 'outbox' | 'cwd' | 'recordingsDir'>): string[] {
  return [defaultUploadsDir(config), ...(config.recordingsDir === null ? [] : [config.recordingsDir])];
}
