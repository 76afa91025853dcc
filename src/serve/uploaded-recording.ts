/**
 * Recordings uploaded with a call (multipart). Each is written to a temporary file and synced while it
 * arrives, then renamed (atomically, same folder tree) to `<uploads>/<sha256 prefix>/<its own name>` and
 * the folder synced, all before the call is enqueued and answered: the outbox item then points at a
 * file that is on disk. The file keeps its own name because an egress name
 * (`number-_<digits>-<epoch>.ogg`) tells the caller and the start; the content hash keeps two different
 * recordings of the same name apart and makes a repeated upload land on the same path.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PartSink } from './multipart.ts';
import { syncDir } from '../fs/durable.ts';
import { ensurePrivateDir, openPrivate } from '../fs/private-files.ts';

/** Sub-folder of the uploads folder where files are written until they are complete. */
export const INCOMING_DIR = '.incoming';
// A temporary file older than this was left by a crash in the middle of an upload.
const STALE_TEMP_MS = 60 * 60 * 1000;

/** A file received completely: synced to disk under its temporary name. */
export interface ReceivedFile {
  tempPath: string;
  /** The client's file name, made safe as a base name. */
  name: string;
  size: number;
  /** Hex sha256 of the content. */
  sha256: string;
}

/** A file being received. */
export interface UploadInProgress {
  sink: PartSink;
  /** The file, once `sink.end()` has resolved. */
  received(): ReceivedFile;
  /** Remove the temporary file (the request failed or was refused). */
  discard(): Promise<void>;
}

/**
 * A client's file name as a base name that is safe on every file system: no folders, no leading dot,
 * only letters, digits and `._+-` (anything else becomes `_`), at most 200 characters.
 */
export function safeFileName(original: string | null): string {
  const base = (original ?? '').split(/[/\\]/).pop() ?? '';
  const cleaned = base
    .replace(/[^A-Za-z0-9._+-]/g, '_')
    .replace(/^[.]+/, '')
    .slice(-200);
  return cleaned === '' || /^[._-]*$/.test(cleaned) ? 'recording' : cleaned;
}

/** Start receiving a file into `uploadsDir`. */
export async function beginUpload(uploadsDir: string, originalName: string | null): Promise<UploadInProgress> {
  const incoming = join(uploadsDir, INCOMING_DIR);
  await ensurePrivateDir(incoming);
  const tempPath = join(incoming, `${randomUUID()}.part`);
  let handle: FileHandle | null = await openPrivate(tempPath, 'wx');
  const hash = createHash('sha256');
  let size = 0;
  let done: ReceivedFile | null = null;
  const name = safeFileName(originalName);
  return {
    sink: {
      async write(chunk: Uint8Array): Promise<void> {
        if (handle === null) throw new Error('the upload is closed');
        let offset = 0;
        while (offset < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
          offset += bytesWritten;
        }
        hash.update(chunk);
        size += chunk.byteLength;
      },
      async end(): Promise<void> {
        if (handle === null) return;
        const h = handle;
        handle = null;
        try {
          await h.sync();
        } finally {
          await h.close();
        }
        done = { tempPath, name, size, sha256: hash.digest('hex') };
      },
    },
    received(): ReceivedFile {
      if (done === null) throw new Error('the upload is not complete');
      return done;
    },
    async discard(): Promise<void> {
      const h = handle;
      handle = null;
      await h?.close().catch(() => undefined);
      await rm(tempPath, { force: true });
    },
  };
}

/** Where a received file is kept: `<uploadsDir>/<first 16 hex of its sha256>/<its name>`. */
export function keptPathOf(uploadsDir: string, file: ReceivedFile): string {
  return join(uploadsDir, file.sha256.slice(0, 16), file.name);
}

/**
 * Move a received file to `keptPath`, durably. When a file is already there (the same recording
 * uploaded before: same name, same content hash) the temporary copy is dropped and `created` is false.
 */
export async function keepUpload(file: ReceivedFile, keptPath: string): Promise<{ created: boolean }> {
  const dir = dirname(keptPath);
  try {
    await stat(keptPath);
    await rm(file.tempPath, { force: true });
    return { created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await ensurePrivateDir(dir);
  await rename(file.tempPath, keptPath);
  await syncDir(dir, { strict: true });
  // The hash folder may be new: its entry in the uploads folder must be on disk too.
  await syncDir(dirname(dir), { strict: true });
  return { created: true };
}

/** Remove a kept file nobody points at (a repeat of a call already queued), and its folder when empty. */
export async function removeKept(keptPath: string): Promise<void> {
  await rm(keptPath, { force: true });
  await rmdir(dirname(keptPath)).catch(() => undefined);
}

/** Remove temporary files that crashed uploads left behind (older than an hour: none is still arriving). */
export async function removeStaleTemps(uploadsDir: string, now = Date.now()): Promise<number> {
  const incoming = join(uploadsDir, INCOMING_DIR);
  let names: string[];
  try {
    names = await readdir(incoming);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.endsWith('.part')) continue;
    const path = join(incoming, name);
    try {
      if (now - (await stat(path)).mtimeMs > STALE_TEMP_MS) {
        await rm(path, { force: true });
        removed++;
      }
    } catch {
      // Removed meanwhile by another server sharing the folder.
    }
  }
  return removed;
}
