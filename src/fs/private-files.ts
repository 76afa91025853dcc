/**
 * Private files (docs/architecture.md, "Security" → "Data at rest"): everything crm-upload writes holds
 * callers' personal data (transcripts, phone numbers, emails, recordings), so every file it creates is
 * `0600` and every folder `0700`, whatever the process umask. A umask can only take bits away, so a mode
 * given at creation is never wider than asked; it is chmod'ed afterwards anyway where an API ignores the
 * mode (a rename keeps the temporary file's mode; SQLite picks its own) or an odd umask took too much.
 *
 * Why not set a restrictive process umask around an open instead: the umask is process-wide, and the
 * libuv thread pool, the SQLite writer thread and other requests create files at the same moment; a
 * temporary umask would race with them. Explicit modes and chmod touch only our own files.
 */
import { chmodSync, closeSync, fchmodSync, fstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import { chmod, mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Mode of every file crm-upload creates: owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of every folder crm-upload creates: owner only. */
export const PRIVATE_DIR_MODE = 0o700;

/** Code of the process warning emitted when an existing file's mode is tightened. */
export const W_FILE_MODE_TIGHTENED = 'CRM_UPLOAD_FILE_MODE';

/** The folders `mkdir -p dir` created, outermost first, given the first one it created (none: it existed). */
function createdChain(first: string | undefined, dir: string): string[] {
  if (first === undefined) return [];
  const out: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    out.unshift(d);
    if (d === first || dirname(d) === d) return out;
  }
}

/**
 * `mkdir -p dir` where every folder created is `0700`. Folders that already exist are left as they
 * are: they may be shared (a home folder, `/var/lib`), and are not ours to change.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const d of createdChain(first, dir)) await chmod(d, PRIVATE_DIR_MODE);
}

/** `ensurePrivateDir`, synchronously (the SQLite outbox opens in a constructor). */
export function ensurePrivateDirSync(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const d of createdChain(first, dir)) chmodSync(d, PRIVATE_DIR_MODE);
}

/**
 * Open a file for writing with mode `0600` (`flags` as `fs.open`: `wx` to create exclusively, `a` to
 * append). A file this call creates is chmod'ed to `0600`; an existing one is left as it is.
 */
export async function openPrivate(path: string, flags: 'wx' | 'a'): Promise<FileHandle> {
  const handle = await open(path, flags, PRIVATE_FILE_MODE);
  try {
    const info = await handle.stat();
    // A file just created is empty; chmod'ing an existing journal being appended to is harmless too.
    if ((info.mode & 0o777) !== PRIVATE_FILE_MODE && (flags === 'wx' || info.size === 0)) await handle.chmod(PRIVATE_FILE_MODE);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/**
 * Make existing files private: any of `paths` that exists, belongs to this user and grants anything to
 * group or others is chmod'ed to `0600`. Returns the paths tightened (with their old modes), so that the
 * caller can warn: a wider mode means other local users could read callers' data until now.
 */
export function tightenFilesSync(paths: readonly string[]): { path: string; from: number }[] {
  const tightened: { path: string; from: number }[] = [];
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  for (const path of paths) {
    let mode: number;
    let owner: number;
    try {
      const info = statSync(path);
      if (!info.isFile()) continue;
      mode = info.mode & 0o777;
      owner = info.uid;
    } catch {
      continue;
    }
    if ((mode & 0o077) === 0) continue;
    // Not ours (another user's file we can read): changing it would fail, and it is theirs to decide.
    if (uid !== null && owner !== uid) continue;
    chmodSync(path, PRIVATE_FILE_MODE);
    tightened.push({ path, from: mode });
  }
  return tightened;
}

/** Create `path` as an empty `0600` file unless it exists (`a`: never truncates what is there). */
export function createPrivateFileSync(path: string): void {
  const fd = openSync(path, 'a', PRIVATE_FILE_MODE);
  try {
    const info = fstatSync(fd);
    if (info.size === 0 && (info.mode & 0o777) !== PRIVATE_FILE_MODE) fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/**
 * The SQLite outbox's files made private before SQLite opens them: its folder is created `0700` when
 * missing, `outbox.db` is created `0600` here first — SQLite then gives `-wal` and `-shm` the database
 * file's mode when it creates them (its unix VFS, `findCreateFileMode`), so no chmod race after the open
 * — and existing files with wider modes (made by an older version) are tightened, with a process warning
 * naming each. A location we cannot write is left for SQLite to report with its own message.
 */
export function preparePrivateSqliteFiles(dbPath: string): void {
  ensurePrivateDirSync(dirname(dbPath));
  try {
    createPrivateFileSync(dbPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw err;
  }
  for (const t of tightenFilesSync([dbPath, `${dbPath}-wal`, `${dbPath}-shm`, `${dbPath}-journal`])) {
    process.emitWarning(`${t.path} was readable by other users (mode ${t.from.toString(8).padStart(4, '0')}); tightened to 0600`, {
      code: W_FILE_MODE_TIGHTENED,
    });
  }
}
