/**
 * The writer thread of a SQLite outbox, seen from the thread that owns the store (docs/architecture.md,
 * "Throughput"). `node:sqlite` is synchronous, and with `synchronous=FULL` every commit waits for the
 * disk: on the thread that runs the deliveries, that wait freezes every request in flight. So a store
 * whose worker delivers hands its writes to a thread of its own, with its own connection to the same
 * file and the same settings; a write's promise resolves only once the thread has committed it, so
 * durability is exactly what it was. Reads stay on the owner's connection (WAL: they see every commit).
 *
 * The thread runs the same `SqliteOutboxConnection` code as the owner, one request at a time in the
 * order they were sent, so writes keep their order.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CrmUploadError, isErrorCode, type ErrorContext } from '../errors.ts';
import type { SqliteOutboxConnection, WriteOp } from './sqlite-connection.ts';

export type { WriteOp } from './sqlite-connection.ts';

/** What the thread is started with. */
export interface WriterData {
  path: string;
  busyTimeoutMs: number;
}

/** A request to the thread: run `op` with `args` (or close the connection). */
export type WriteRequest = { id: number; op: WriteOp | 'close'; args: unknown[] };

/** An error as it crosses threads (structured clone would drop `code` and the context). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
  errcode?: unknown;
  errstr?: unknown;
  context?: ErrorContext;
  crm?: boolean;
}

/** What the thread sends back: the connection is open (or not), or the outcome of one request. */
export type WriterMessage =
  | { kind: 'ready' }
  | { kind: 'failed'; error: SerializedError }
  | { kind: 'reply'; id: number; ok: true; result: unknown }
  | { kind: 'reply'; id: number; ok: false; error: SerializedError };

/** Turn an error into something that crosses threads intact. */
export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & { code?: unknown; errcode?: unknown; errstr?: unknown };
  const out: SerializedError = { name: e.name, message: e.message, stack: e.stack, code: e.code, errcode: e.errcode, errstr: e.errstr };
  if (err instanceof CrmUploadError) {
    out.crm = true;
    out.context = err.context;
  }
  return out;
}

/** Rebuild an error sent by the thread, keeping its class where it matters (TypeError, CrmUploadError). */
export function reviveError(s: SerializedError): Error {
  let err: Error;
  if (s.crm && typeof s.code === 'string') err = new CrmUploadError(s.message, { ...s.context, code: isErrorCode(s.code) ? s.code : undefined });
  else if (s.name === 'TypeError') err = new TypeError(s.message);
  else if (s.name === 'RangeError') err = new RangeError(s.message);
  else err = new Error(s.message);
  if (err.name !== s.name) err.name = s.name;
  const extra = err as Error & { code?: unknown; errcode?: unknown; errstr?: unknown };
  if (s.code !== undefined && !(err instanceof CrmUploadError)) extra.code = s.code;
  if (s.errcode !== undefined) extra.errcode = s.errcode;
  if (s.errstr !== undefined) extra.errstr = s.errstr;
  if (s.stack !== undefined) err.stack = s.stack;
  return err;
}

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };

/** The owner's handle on the writer thread. */
export class WriterThread {
  /** Resolves once the thread has opened the file; rejects (and the thread is gone) when it cannot. */
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #up = false;
  #failure: Error | null = null;
  #closing: Promise<void> | null = null;

  /** Start the thread on the (absolute) `path`. Requests may be sent at once; they wait for it to be up. */
  constructor(data: WriterData) {
    // The thread's module sits next to this one, as .ts when running from source and .js once built.
    const here = fileURLToPath(import.meta.url);
    const entry = new URL(`./sqlite-writer-thread${extname(here)}`, import.meta.url);
    this.#worker = new Worker(entry, { workerData: data, stdout: false, stderr: false });
    // An idle writer must not keep the process alive; it is ref'd only while a request is pending.
    this.#worker.unref();
    let settleReady: { resolve: () => void; reject: (err: Error) => void } | null = null;
    this.ready = new Promise<void>((resolve, reject) => (settleReady = { resolve, reject }));
    // Nobody may be waiting for readiness (writes fall back to the owner's connection meanwhile).
    this.ready.catch(() => undefined);
    this.#worker.on('message', (msg: WriterMessage) => {
      if (msg.kind === 'ready') {
        this.#up = true;
        settleReady?.resolve();
      } else if (msg.kind === 'failed') {
        const err = reviveError(msg.error);
        this.#fail(err);
        settleReady?.reject(err);
        void this.#worker.terminate();
      } else {
        const waiting = this.#pending.get(msg.id);
        if (waiting === undefined) return;
        this.#pending.delete(msg.id);
        if (this.#pending.size === 0) this.#worker.unref();
        if (msg.ok) waiting.resolve(msg.result);
        else waiting.reject(reviveError(msg.error));
      }
    });
    this.#worker.on('error', (err) => {
      this.#fail(err);
      settleReady?.reject(err);
    });
    this.#worker.on('exit', (code) => {
      const err = new Error(`the outbox writer thread stopped (exit code ${code})`);
      this.#fail(err);
      settleReady?.reject(err);
    });
  }

  /** True once the thread has the file open and has not failed: writes can go to it. */
  get up(): boolean {
    return this.#up && this.#failure === null;
  }

  /** True when the thread is gone (it failed to start, crashed, or was closed). */
  get failed(): boolean {
    return this.#failure !== null;
  }

  /**
   * Run one connection method on the thread; resolves with its result once it has returned there (for a
   * write: once it is committed). When the thread dies first the promise rejects, and the write may or
   * may not have been committed — as when the process itself is killed at that moment.
   */
  call<K extends WriteOp>(op: K, ...args: Parameters<SqliteOutboxConnection[K]>): Promise<ReturnType<SqliteOutboxConnection[K]>> {
    return this.#send(op, args) as Promise<ReturnType<SqliteOutboxConnection[K]>>;
  }

  /** Close the thread's connection after the requests already sent, and end the thread. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#failure === null) {
        try {
          await this.#send('close', []);
        } catch {
          // Gone already: nothing left to close.
        }
      }
      this.#fail(new Error('the outbox is closed'));
      await this.#worker.terminate();
    })();
    return this.#closing;
  }

  #send(op: WriteOp | 'close', args: unknown[]): Promise<unknown> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      const request: WriteRequest = { id, op, args };
      this.#worker.postMessage(request);
    });
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiting of this.#pending.values()) waiting.reject(this.#failure);
    this.#pending.clear();
    this.#worker.unref();
  }
}
