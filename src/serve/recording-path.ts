/**
 * `recordingPath` of an ingest request: a file inside the configured recordings folder
 * (`CRM_RECORDINGS_DIR`) and nowhere else. The path is checked as written (`..` cannot climb out) and
 * again after following symbolic links (a link inside cannot point outside), using only `realpath`
 * and `lstat`/`stat`, which never open the file: nothing outside the folder is read, and a FIFO or a
 * device inside it is refused without being opened.
 */
import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { E_INPUT_OUTSIDE, isInsideFolders } from '../ingest/resolve-path.ts';
import type { RequestProblem } from './errors.ts';

/** Code of a `recordingPath` given to a server that has no recordings folder. */
export const E_SERVE_NO_RECORDINGS_DIR = 'E_SERVE_NO_RECORDINGS_DIR';
/** Code of a `recordingPath` that names no regular file. */
export const E_SERVE_NOT_FILE = 'E_SERVE_NOT_FILE';

/** Where a `recordingPath` leads. */
export type RecordingPathResult =
  /** A regular file inside the folder (its real path). */
  | { ok: true; path: string; exists: true }
  /**
   * Nothing there yet, in a folder inside the recordings folder: egress may still be writing it, and
   * the worker waits for it (up to `CRM_RECORDING_WAIT_MS`).
   */
  | { ok: true; path: string; exists: false }
  | { ok: false; problem: RequestProblem };

const FIELD = 'recordingPath';

function refuse(code: string, message: string): RecordingPathResult {
  return { ok: false, problem: { field: FIELD, code, message } };
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Resolve `raw` (absolute, or relative to the recordings folder) inside `recordingsDir`. Every refusal
 * is a problem naming the field `recordingPath`.
 */
export async function resolveRecordingPath(raw: string, recordingsDir: string | null): Promise<RecordingPathResult> {
  if (recordingsDir === null) {
    return refuse(E_SERVE_NO_RECORDINGS_DIR, 'recordingPath needs a recordings folder on the server (CRM_RECORDINGS_DIR), and none is set; upload the file as multipart instead');
  }
  if (raw.includes('\0')) return refuse(E_SERVE_NOT_FILE, 'recordingPath contains a NUL character');
  const folder = resolve(recordingsDir);
  let realFolder: string;
  try {
    realFolder = await realpath(folder);
  } catch {
    return refuse(E_SERVE_NO_RECORDINGS_DIR, `the recordings folder of this server (CRM_RECORDINGS_DIR) does not exist`);
  }
  const candidate = isAbsolute(raw) ? resolve(raw) : resolve(folder, raw);
  // As written: a client may name the folder by its configured path or by its real one.
  if (!isInsideFolders(candidate, [folder, realFolder])) {
    return refuse(E_INPUT_OUTSIDE, `recordingPath ${raw} is outside the recordings folder (CRM_RECORDINGS_DIR); refused, nothing was read`);
  }
  if (candidate === folder || candidate === realFolder) return refuse(E_SERVE_NOT_FILE, 'recordingPath names the recordings folder itself, not a file');

  let real: string;
  try {
    real = await realpath(candidate);
  } catch (err) {
    if (errno(err) !== 'ENOENT') return refuse(E_SERVE_NOT_FILE, `recordingPath ${raw} cannot be resolved: ${errno(err) ?? String(err)}`);
    return resolveMissing(raw, candidate, realFolder);
  }
  if (!isInsideFolders(real, [realFolder])) {
    return refuse(E_INPUT_OUTSIDE, `recordingPath ${raw} leads (through a symbolic link) outside the recordings folder (CRM_RECORDINGS_DIR); refused, nothing was read`);
  }
  const info = await stat(real);
  if (!info.isFile()) return refuse(E_SERVE_NOT_FILE, `recordingPath ${raw} is ${info.isDirectory() ? 'a folder' : 'not a regular file'}; refused`);
  return { ok: true, path: real, exists: true };
}

/** A path where no file is (yet): accepted only when it cannot lead outside once the file appears. */
async function resolveMissing(raw: string, candidate: string, realFolder: string): Promise<RecordingPathResult> {
  try {
    await lstat(candidate);
    // Something is there but does not resolve: a dangling link, whose target could appear anywhere.
    return refuse(E_INPUT_OUTSIDE, `recordingPath ${raw} is a symbolic link to a missing target; refused`);
  } catch (err) {
    if (errno(err) !== 'ENOENT') return refuse(E_SERVE_NOT_FILE, `recordingPath ${raw} cannot be resolved: ${errno(err) ?? String(err)}`);
  }
  let parent: string;
  try {
    parent = await realpath(dirname(candidate));
  } catch {
    return refuse(E_SERVE_NOT_FILE, `recordingPath ${raw}: no such file, and its folder does not exist either`);
  }
  if (!isInsideFolders(parent, [realFolder])) {
    return refuse(E_INPUT_OUTSIDE, `recordingPath ${raw} leads (through a symbolic link) outside the recordings folder (CRM_RECORDINGS_DIR); refused, nothing was read`);
  }
  return { ok: true, path: join(parent, basename(candidate)), exists: false };
}
