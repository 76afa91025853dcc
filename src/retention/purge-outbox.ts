/**
 * Retention (docs/architecture.md, "Stores" → "Retention"): final items removed from the outbox in small
 * batches, and the recordings `serve` kept for them removed with them. Used by `crm-upload purge` (every batch
 * until none is left) and by the worker (one batch between leases). The store removes rows; the files are
 * removed here, and only inside the uploads folder: a recording under `CRM_RECORDINGS_DIR` is the user's.
 */
import { rmdir, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { OutboxStore } from '../outbox/outbox-store.ts';

/** At most this many items of each kind per transaction, so that a purge never holds the outbox for long. */
export const PURGE_BATCH = 500;

/** What to purge. */
export interface PurgeRunOptions {
  /** Delivered items delivered longer ago than this (ms) go; null: none by age. */
  olderThanMs: number | null;
  /** Dead items go too (all of them). */
  dead: boolean;
  /** Count only. */
  dryRun?: boolean;
  /** `serve`'s uploads folder: recordings of removed items inside it are deleted; null: no file is touched. */
  uploadsDir: string | null;
  /** Items of each kind per batch (≤ `PURGE_BATCH` unless a caller knows better). */
  batchSize?: number;
  /** Stop after this many batches (the worker: 1); default until nothing is left. */
  maxBatches?: number;
  /** The current time, epoch ms; default the clock. */
  now?: number;
}

/** What a purge removed (with `dryRun`: would remove; recordings are then not counted). */
export interface PurgeRunResult {
  delivered: number;
  dead: number;
  /** Kept recordings deleted. */
  recordings: number;
  /** The cut: items delivered before this time went (epoch ms), or null. */
  deliveredBefore: number | null;
  /** True when `maxBatches` stopped it with items still to remove. */
  more: boolean;
}

/** Purge the outbox batch by batch, deleting the kept recordings of what went. */
export async function purgeOutbox(store: OutboxStore, options: PurgeRunOptions): Promise<PurgeRunResult> {
  const now = options.now ?? Date.now();
  const deliveredBefore = options.olderThanMs === null ? null : now - options.olderThanMs;
  const result: PurgeRunResult = { delivered: 0, dead: 0, recordings: 0, deliveredBefore, more: false };
  const cut = deliveredBefore === null ? {} : { deliveredBefore };
  if (deliveredBefore === null && !options.dead) return result;
  if (options.dryRun === true) {
    const counted = await store.purge({ ...cut, dead: options.dead, dryRun: true });
    return { ...result, delivered: counted.delivered, dead: counted.dead };
  }
  const limit = options.batchSize ?? PURGE_BATCH;
  for (let batch = 0; ; batch += 1) {
    if (options.maxBatches !== undefined && batch >= options.maxBatches) {
      result.more = true;
      return result;
    }
    const removed = await store.purge({ ...cut, dead: options.dead, limit });
    result.delivered += removed.delivered;
    result.dead += removed.dead;
    if (options.uploadsDir !== null) {
      for (const path of removed.recordingPaths) if (await removeKeptRecording(path, options.uploadsDir)) result.recordings += 1;
    }
    if (removed.delivered < limit && removed.dead < limit) return result;
  }
}

/**
 * Delete a recording `serve` kept (`<uploadsDir>/<hash>/<name>`) and its folder once empty. A path outside
 * `uploadsDir` is left alone (false). A file already gone counts as not removed.
 */
export async function removeKeptRecording(path: string, uploadsDir: string): Promise<boolean> {
  const root = resolve(uploadsDir);
  const file = resolve(path);
  if (!isInside(root, file)) return false;
  try {
    // unlink removes a link itself, never what it points to.
    await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const folder = dirname(file);
  if (folder !== root && isInside(root, folder)) await rmdir(folder).catch(() => undefined);
  return true;
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}
