/**
 * What keeps uploads from exhausting the server (docs/architecture.md, "Security" → "The ingest door"): at
 * most N multipart uploads in flight at once (the next gets a 503 with `Retry-After` before any of its
 * body is read), and a free-space floor checked (statfs) before a recording is written, so that a full
 * disk never breaks the outbox's own writes for every caller.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { busy } from './errors.ts';

/** Default most multipart uploads in flight at once. */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 16;
/** Default free space the uploads folder must keep (besides the upload's own declared length). */
export const DEFAULT_MIN_FREE_BYTES = 512 * 1024 * 1024;
/** What a refused upload is told to wait, in seconds. */
export const UPLOAD_RETRY_AFTER_S = 5;

/** Counts uploads in flight. */
export interface UploadGate {
  /** Take a slot, or throw a 503 ServeRequestError when all are taken. Call `leave()` once done. */
  enter(): void;
  leave(): void;
  /** Uploads in flight now. */
  readonly active: number;
}

/** A gate of `max` slots. */
export function createUploadGate(max: number): UploadGate {
  let active = 0;
  return {
    enter(): void {
      if (active >= max) throw busy(`too many uploads in flight (${max}); try again shortly`, UPLOAD_RETRY_AFTER_S);
      active++;
    },
    leave(): void {
      active = Math.max(0, active - 1);
    },
    get active(): number {
      return active;
    },
  };
}

/** Bytes free for this user in the file system holding `dir` (or its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number> {
  for (let d = dir; ; d = dirname(d)) {
    try {
      const info = await statfs(d);
      return info.bavail * info.bsize;
    } catch (err) {
      // A folder removed under a running server: the file system is its parent's.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(d) === d) throw err;
    }
  }
}

/**
 * Refuse (503) a recording when writing `incoming` more bytes would leave less than `minFree` free in
 * `dir`'s file system. `incoming` is the declared length when the client gave one, else 0.
 */
export async function checkFreeSpace(dir: string, minFree: number, incoming: number): Promise<void> {
  if (minFree <= 0) return;
  const free = await freeBytes(dir);
  if (free - incoming < minFree) {
    throw busy('not enough free disk space on the server for this recording; try again later', UPLOAD_RETRY_AFTER_S * 12);
  }
}
