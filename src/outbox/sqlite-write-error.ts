/**
 * SQLite's own failures, said clearly (docs/architecture.md, "Stores" → "SQLite"): `node:sqlite` throws a
 * bare "database or disk is full" that names neither the outbox nor what to do. A write that fails is
 * turned into an `OutboxWriteError` naming the file, the cause (SQLite's result code and words) and the
 * way out; nothing of the failed write was committed, since every write is one transaction.
 */
import { CrmUploadError, type ErrorCode, type ErrorOptions } from '../errors.ts';

/** A write to the SQLite outbox that SQLite refused; `code` says why. */
export class OutboxWriteError extends CrmUploadError {
  static override readonly defaultCode: ErrorCode = 'E_OUTBOX_IO';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The codes of failures that pass by themselves (space freed, a lock released, a transient I/O error):
 * a worker waits and tries again rather than stop.
 */
export const TRANSIENT_OUTBOX_CODES: readonly ErrorCode[] = ['E_OUTBOX_FULL', 'E_OUTBOX_BUSY', 'E_OUTBOX_IO'];

// SQLite primary result codes (the low byte of an extended code): https://sqlite.org/rescode.html
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_NOTADB = 26;

// The writes of the connection: each is one transaction, so a failed one committed nothing.
const WRITES = new Set(['enqueue', 'enqueueMany', 'settleAndLease', 'settle', 'release', 'checkpointRecording', 'replay', 'requeue']);

/**
 * `target` (a SQLite connection object) with every method's SQLite failure turned into an
 * OutboxWriteError naming `path` (reads too: a damaged file fails there first). Methods run on the
 * target itself, so its private fields work.
 */
export function guardSqliteErrors<T extends object>(target: T, path: string, busyTimeoutMs: number): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        try {
          return method.apply(obj, args);
        } catch (err) {
          throw sqliteWriteError(err, path, String(prop), busyTimeoutMs);
        }
      };
    },
  });
}

/**
 * Turn an error of a write (`op`) to the outbox at `path` into an OutboxWriteError when SQLite caused it;
 * any other error (ours, a bad argument) is returned as it is. Pure.
 */
export function sqliteWriteError(err: unknown, path: string, op: string, busyTimeoutMs: number): unknown {
  if (err instanceof CrmUploadError || !(err instanceof Error)) return err;
  const errcode = (err as { errcode?: unknown }).errcode;
  if (typeof errcode !== 'number') return err;
  const cause = `SQLite ${errcode}: ${err.message}`;
  const context = { file: path, op, sqliteCode: errcode, cause: err };
  const nothing = WRITES.has(op) ? `nothing of this ${op} was committed` : `the ${op} failed`;
  switch (errcode & 0xff) {
    case SQLITE_FULL:
      return new OutboxWriteError(
        `cannot write to the outbox ${path}: the disk is full (${cause}); ${nothing}. Free space on the filesystem that holds it: what was committed is kept, and delivery resumes once there is room`,
        { ...context, code: 'E_OUTBOX_FULL' },
      );
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new OutboxWriteError(
        `the outbox ${path} stayed locked by another process's write for longer than the busy timeout (${busyTimeoutMs} ms) (${cause}); ${nothing}. Try again; if it lasts, find the process holding a write transaction open`,
        { ...context, code: 'E_OUTBOX_BUSY' },
      );
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return new OutboxWriteError(
        `the outbox ${path} is damaged (${cause}); ${nothing}. Stop every process using it, move it aside with its -wal and -shm files, and restore a backup (crm-upload restore FILE); crm-upload doctor checks it`,
        { ...context, code: 'E_OUTBOX_CORRUPT' },
      );
    case SQLITE_READONLY:
      return new OutboxWriteError(`the outbox ${path} cannot be written (${cause}); ${nothing}. Check the file's and its folder's owner and mode`, {
        ...context,
        code: 'E_OUTBOX_READONLY',
      });
    case SQLITE_IOERR:
      return new OutboxWriteError(`cannot write to the outbox ${path}: an I/O error (${cause}); ${nothing}. Check the disk that holds it`, { ...context, code: 'E_OUTBOX_IO' });
    default:
      return err;
  }
}
