/**
 * The TypeScript counterpart of the seed's `transcript_logger.py` (docs/architecture.md, "Library API" and
 * "In the call"): save a conversation session to a file atomically and, when auto-upload is on,
 * enqueue the call durably and return. The call's own process never contacts the CRM and never waits
 * on it: a worker (`crm-upload worker`, or this logger's in-process one) delivers.
 *
 * Failure policy: only a failure to write the session file rejects, because then the agent's data was
 * not saved and its code must know. Anything on the upload path (mapping, configuration, the outbox)
 * is logged and reported in the result: the file is on disk, so `bulk` or `watch` can still send it.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { ensurePrivateDir } from '../fs/private-files.ts';
import { join, resolve } from 'node:path';
import { prepareCall } from '../api/prepare-call.ts';
import { loadConfig, type Config } from '../config/config.ts';
import { CrmUploadError, describeError } from '../errors.ts';
import { compactUtc } from '../ingest/session-id.ts';
import { timestampToMs } from '../ingest/timestamps.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { deliveryOn, openOutbox, type Delivery } from '../delivery/open-delivery.ts';
import type { OutboxState, OutboxStore } from '../outbox/outbox-store.ts';
import { callDataValidator } from '../payload/validate-payload.ts';
import type { WorkerHandle } from '../worker/worker.ts';
import { pathExists, syncDir, writeAndRename } from '../fs/durable.ts';

/** A time as the agent holds it: a string as the seed wrote it, or a Date (written as UTC ISO with `Z`). */
export type SessionTime = string | Date;

/** A flat logger event, the seed's own item shape. */
export interface TranscriptEvent {
  role: string;
  content: string;
  timestamp?: SessionTime;
  source?: string;
  transcript_confidence?: number;
  interrupted?: boolean;
  [key: string]: unknown;
}

/** A LiveKit chat item (`session.history` message). */
export interface ChatMessageItem {
  type: 'message';
  id?: string;
  role: string;
  content: string | unknown[];
  interrupted?: boolean;
  transcript_confidence?: number;
  timestamp?: SessionTime;
  [key: string]: unknown;
}

/** A tool call; `arguments` is JSON text, as LiveKit gives it. */
export interface FunctionCallItem {
  type: 'function_call';
  name: string;
  arguments: string;
  call_id?: string;
  timestamp?: SessionTime;
  [key: string]: unknown;
}

/**
 * One item of a session. Other events (`function_call_output`, `persona_applied`, …) are kept in the
 * file as they are; readers skip what is not conversation.
 */
export type TranscriptItem = TranscriptEvent | ChatMessageItem | FunctionCallItem | Record<string, unknown>;

/** A session as the seed's logger held it. */
export interface TranscriptSession {
  /** The callId is derived from it and the start, so a session saved twice is enqueued once. */
  session_id: string;
  /** Naive values are UTC (the seed wrote `2025-10-23 07:56:34.608343`). */
  start_time: SessionTime;
  /** The save time when absent: a session saved while still open ends when it is saved. */
  end_time?: SessionTime;
  items: TranscriptItem[];
  /** Filled with `items.length` when absent. */
  total_items?: number;
  /** Filled from start and end when absent. */
  duration_seconds?: number;
  /** Filled when absent: true when a `create_lead` tool call is among the items. */
  lead_generated?: boolean;
  /** Per-call `campaign_metadata` here overrides the configured ids. */
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What a save did. It resolves whenever the file was written, whatever happened after. */
export interface SaveResult {
  /** Absolute path of the session file written. */
  file: string;
  /** The call's id, once the session could be mapped. */
  callId?: string;
  /** True when the call went into the outbox now; false when auto-upload is off, it was already there, or on error. */
  enqueued: boolean;
  /** The call's state in the outbox after the enqueue (`delivered` for a re-save of a delivered call). */
  state?: OutboxState;
  /** Why the call was not enqueued (`E_CONFIG`, `E_INPUT_…`, `E_PAYLOAD_INVALID`, `E_CLOSED`, …). */
  error?: { code: string; message: string };
}

/** Options of `TranscriptLogger`; each defaults to the environment and `.env` (via `loadConfig`). */
export interface TranscriptLoggerOptions {
  /** Default `CRM_CONVERSATIONS_DIR`, else `conversations`; relative to the user's directory. */
  conversationsDir?: string;
  /** Default `CRM_AUTO_UPLOAD`. */
  autoUpload?: boolean;
  /** An open store (left open by `close()`), or a target in `CRM_OUTBOX` form; default `CRM_OUTBOX`. */
  outbox?: OutboxStore | string;
  /** Default `loadConfig()`. */
  config?: Config;
  /** Default: pino on stderr at `LOG_LEVEL`, else `warn`, with PII masked. */
  logger?: Logger;
  /** Deliver from this process, in the background, until `close()`. */
  deliverInProcess?: boolean;
}

/** Options of `addToolCall`. */
export interface ToolCallOptions {
  callId?: string;
  /** Default: now. */
  timestamp?: SessionTime;
}

const SESSION_KEYS = ['session_id', 'start_time', 'end_time', 'items', 'total_items', 'duration_seconds', 'lead_generated', 'metadata'];

/** The last file stamp handed out in this process (µs since the epoch), shared by every logger. */
let lastStampUs = 0;

/**
 * A save time in microseconds, strictly increasing within the process. Date.now() is the wall clock
 * the name must show; the sub-millisecond digits come from the monotonic clock, and the bump keeps two
 * saves in the same microsecond from getting the same name.
 */
function nextStampUs(): number {
  const us = Date.now() * 1000 + Number(process.hrtime.bigint() / 1000n % 1000n);
  lastStampUs = Math.max(us, lastStampUs + 1);
  return lastStampUs;
}

/** `2025-10-23T07-57-04.661114`: UTC, the seed's `%Y-%m-%dT%H-%M-%S.%f` (`us`: µs since the epoch). */
export function fileStamp(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 19).replace(/:/g, '-')}.${String(us % 1_000_000).padStart(6, '0')}`;
}

function timeText(value: SessionTime): string {
  return value instanceof Date ? value.toISOString() : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function errorCode(err: unknown): string {
  return err instanceof CrmUploadError ? err.code : 'E_UNEXPECTED';
}

/**
 * The document written: the seed's keys in the seed's order, the missing summary fields filled, then
 * whatever else the caller put on the session (kept, never overriding).
 */
export function sessionDocument(session: TranscriptSession, savedAt: Date): Record<string, unknown> {
  // Written as given even when malformed: the caller's data is kept, and the reader's error says what is wrong.
  const items: unknown[] = Array.isArray(session.items) ? session.items : [];
  const start = session.start_time === undefined || session.start_time === null ? undefined : timeText(session.start_time);
  const end = timeText(session.end_time ?? savedAt);
  let duration = session.duration_seconds;
  if (duration === undefined && start !== undefined) {
    // Naive session times are UTC (docs/architecture.md): the seed's logger wrote them from `datetime.utcnow()`.
    const s = timestampToMs(start, 'UTC');
    const e = timestampToMs(end, 'UTC');
    if (typeof s === 'number' && typeof e === 'number') duration = (e - s) / 1000;
  }
  const extras = Object.fromEntries(Object.entries(session).filter(([k]) => !SESSION_KEYS.includes(k)));
  return {
    session_id: session.session_id,
    start_time: start,
    end_time: end,
    items: session.items,
    total_items: session.total_items ?? items.length,
    duration_seconds: duration,
    lead_generated: session.lead_generated ?? items.some((i) => isObject(i) && i.type === 'function_call' && i.name === 'create_lead'),
    metadata: session.metadata ?? {},
    ...extras,
  };
}

/**
 * Write `text` as a new `transcript_session_<save time>.json` in `dir`, atomically: a `.partial` file
 * (skipped by every reader), fsync, rename, fsync of the folder. A crash leaves either no file or the
 * whole file, never half a call. Never overwrites a file: the `.partial` name is claimed exclusively.
 */
async function writeSessionFile(dir: string, text: string, name?: string): Promise<string> {
  await ensurePrivateDir(dir);
  for (let tries = 0; ; tries++) {
    // The name chosen before the enqueue first; the next free one if another process took it meanwhile.
    const file = tries === 0 && name !== undefined ? name : join(dir, `transcript_session_${fileStamp(nextStampUs())}.json`);
    const temp = `${file}.partial`;
    if (await pathExists(file)) continue;
    try {
      await writeAndRename(temp, file, text);
    } catch (err) {
      // Another writer holds this name (another process, same microsecond): take the next one.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && tries < 100) continue;
      throw err;
    }
    await syncDir(dir);
    return file;
  }
}

/**
 * A `transcript_session_<save time>.json` name in `dir` that no file holds now. A synchronous stat (a few
 * microseconds) rather than a trip through libuv's thread pool: the save then waits for nothing but its
 * commit (issue 16), and the name is claimed exclusively when the file is written anyway.
 */
function freshSessionName(dir: string): string {
  for (;;) {
    const file = join(dir, `transcript_session_${fileStamp(nextStampUs())}.json`);
    if (statSync(file, { throwIfNoEntry: false }) === undefined) return file;
  }
}

/**
 * Saves conversation sessions and, with auto-upload, enqueues each call in the outbox.
 *
 * ```ts
 * const logger = new TranscriptLogger({ autoUpload: true });
 * const result = await logger.saveConversationSession(session); // one durable commit, CRM up or down
 * await logger.close();
 * ```
 */
export class TranscriptLogger {
  /** Absolute folder the session files go to. */
  readonly conversationsDir: string;
  readonly autoUpload: boolean;
  readonly config: Config;
  readonly #logger: Logger;
  /** A store the caller passed in: used, never closed. */
  readonly #givenStore: OutboxStore | null;
  /** The outbox target when no store was given (resolved by the composition root). */
  readonly #outboxTarget: string | undefined;
  readonly #deliverInProcess: boolean;
  #ownStore: Promise<OutboxStore> | null = null;
  #worker: WorkerHandle | null = null;
  #delivery: Delivery | null = null;
  #current: TranscriptSession | null = null;
  readonly #saves = new Set<Promise<unknown>>();
  /** Session files still being written after their call's enqueue returned; `close()` waits for them. */
  readonly #fileWrites = new Set<Promise<void>>();
  /** The conversations folder, made (0700) once. */
  #dir: Promise<void> | null = null;
  /** Settles once the outbox is open and the in-process worker (if any) started; never rejects. */
  readonly #ready: Promise<void>;
  #closing: Promise<void> | null = null;

  /** Throws a ConfigError only when the environment is malformed and no `config` is given. */
  constructor(options: TranscriptLoggerOptions = {}) {
    this.config = options.config ?? loadConfig();
    const cwd = this.config.cwd;
    this.conversationsDir = resolve(cwd, options.conversationsDir ?? this.config.conversationsDir ?? 'conversations');
    this.autoUpload = options.autoUpload ?? this.config.autoUpload;
    this.#logger = options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
    const outbox = options.outbox;
    this.#givenStore = typeof outbox === 'object' ? outbox : null;
    this.#outboxTarget = typeof outbox === 'string' ? outbox : undefined;
    this.#deliverInProcess = options.deliverInProcess ?? false;

    if (this.autoUpload) {
      // Compiling the contract and opening the outbox take tens of milliseconds: done now, not during
      // the first call's save, which must take milliseconds.
      try {
        callDataValidator();
      } catch (err) {
        this.#logger.error({ err: describeError(err) }, 'cannot compile the call-data contract');
      }
    }
    this.#ready =
      this.autoUpload || this.#deliverInProcess
        ? this.#store().then(
            (store) => this.#ensureWorker(store),
            (err: unknown) => {
              this.#logger.error({ code: errorCode(err), err: describeError(err) }, 'cannot open the outbox; sessions are still saved');
            },
          )
        : Promise.resolve();
  }

  /**
   * Start a new session (the seed's `start_session`) and make it the current one, which `addItem`,
   * `addToolCall` and a `saveConversationSession()` without argument use. The id defaults to
   * `session_<YYYYMMDD_HHMMSS UTC>_<8 random hex digits>`, as the seed made them.
   */
  startSession(sessionId?: string): TranscriptSession {
    const now = new Date();
    this.#current = {
      session_id: sessionId ?? `session_${compactUtc(now.toISOString())}_${randomBytes(4).toString('hex')}`,
      start_time: now,
      items: [],
      metadata: {},
    };
    return this.#current;
  }

  /**
   * Append an item to the current session (started if there is none). An item with no time of its
   * own (`timestamp`, or LiveKit's `created_at`) is stamped now, so the call's items keep their times.
   */
  addItem(item: TranscriptItem): void {
    const session = this.#current ?? this.startSession();
    const untimed = item.timestamp === undefined && item.created_at === undefined;
    session.items.push(untimed ? { ...item, timestamp: new Date().toISOString() } : item);
  }

  /** Append a `function_call` item to the current session, e.g. `addToolCall('create_lead', {name, phone})`. */
  addToolCall(name: string, args: Record<string, unknown> | string, options: ToolCallOptions = {}): void {
    const item: FunctionCallItem = {
      type: 'function_call',
      name,
      arguments: typeof args === 'string' ? args : JSON.stringify(args),
      timestamp: timeText(options.timestamp ?? new Date()),
    };
    if (options.callId !== undefined) item.call_id = options.callId;
    this.addItem(item);
  }

  /**
   * With auto-upload, enqueue the call durably and return; the session file (a copy for people) is
   * written atomically right after, off the agent's wait, and `close()` waits for it. Without
   * auto-upload, or when the call could not be enqueued, the file is the only copy: it is written before
   * the save returns. Never contacts the CRM. Rejects only when the session cannot be saved
   * (`E_SESSION_WRITE`: not serialisable, the folder cannot be made, or a file that is the only copy
   * could not be written; `E_USAGE` when there is no session to save); every other problem is logged
   * and returned in `error`. Without an argument, saves and ends the current session.
   */
  saveConversationSession(session?: TranscriptSession): Promise<SaveResult> {
    // Decided at entry: a save begun before close() finishes its enqueue, since close() waits for it.
    const accepting = this.#closing === null;
    const saving = this.#save(session, accepting);
    this.#saves.add(saving);
    const forget = (): void => {
      this.#saves.delete(saving);
    };
    saving.then(forget, forget);
    return saving;
  }

  async #save(given: TranscriptSession | undefined, accepting: boolean): Promise<SaveResult> {
    const session = given ?? this.#current;
    if (session === null) {
      throw new CrmUploadError('no session to save: pass one, or call startSession() first', { code: 'E_USAGE' });
    }
    if (session === this.#current) this.#current = null;

    let text: string;
    try {
      text = JSON.stringify(sessionDocument(session, new Date()), null, 2);
    } catch (err) {
      throw this.#writeError(err);
    }
    if (!this.autoUpload) return { file: await this.#writeNow(text), enqueued: false };
    if (!accepting) {
      const file = await this.#writeNow(text);
      return this.#failed(file, undefined, new CrmUploadError('the logger is closed: the session was saved but not enqueued', { code: 'E_CLOSED', file }));
    }

    // The outbox commit is the durability point (docs/architecture.md, "Durability"): the payload is read
    // from the text the file will hold, the call enqueued, and only then the file written, so that the
    // agent waits for one durable write, not two.
    let file: string;
    try {
      this.#dir ??= ensurePrivateDir(this.conversationsDir).catch((err: unknown) => {
        this.#dir = null;
        throw err;
      });
      await this.#dir;
      file = freshSessionName(this.conversationsDir);
    } catch (err) {
      throw this.#writeError(err);
    }
    let callId: string | undefined;
    try {
      const prepared = await prepareCall({ transcript: file, transcriptText: text }, this.config);
      callId = prepared.payload.callDetails.callId;
      const store = await this.#store();
      const r = await store.enqueue({ callId, payload: prepared.payload, recordingPath: prepared.recordingPath, sourceFile: file });
      this.#ensureWorker(store);
      this.#writeLater(file, text, callId);
      return { file, callId, enqueued: r.enqueued, state: r.state };
    } catch (err) {
      // Not enqueued: the file is the call's only copy, on disk before the save returns.
      return this.#failed(await this.#writeNow(text, file), callId, err);
    }
  }

  /** Write the session file now (atomically, durably); E_SESSION_WRITE when it cannot be. */
  async #writeNow(text: string, name?: string): Promise<string> {
    try {
      return await writeSessionFile(this.conversationsDir, text, name);
    } catch (err) {
      throw this.#writeError(err);
    }
  }

  /**
   * Write the session file of a call already in the outbox, off the save's path; `close()` waits for
   * it. A failure is logged: the call itself is safe in the outbox and is delivered all the same.
   */
  #writeLater(file: string, text: string, callId: string): void {
    const writing = writeSessionFile(this.conversationsDir, text, file).then(
      (written) => {
        if (written !== file) this.#logger.warn({ file, written, callId }, 'session file name taken meanwhile; written under the next free one');
      },
      (err: unknown) => {
        this.#logger.error({ file, callId, err: describeError(err) }, 'session file not written; the call is in the outbox and is delivered all the same');
      },
    );
    this.#fileWrites.add(writing);
    void writing.finally(() => this.#fileWrites.delete(writing));
  }

  #writeError(err: unknown): CrmUploadError {
    return new CrmUploadError(`the session was not saved in ${this.conversationsDir}: ${describeError(err)}`, { code: 'E_SESSION_WRITE', file: this.conversationsDir, cause: err });
  }

  #failed(file: string, callId: string | undefined, err: unknown): SaveResult {
    const error = { code: errorCode(err), message: describeError(err) };
    this.#logger.error({ file, callId, code: error.code, err: error.message }, 'session saved but not enqueued');
    return callId === undefined ? { file, enqueued: false, error } : { file, callId, enqueued: false, error };
  }

  /** The outbox: the caller's, or one opened once (a failed open is retried by the next save). */
  #store(): Promise<OutboxStore> {
    if (this.#givenStore !== null) return Promise.resolve(this.#givenStore);
    this.#ownStore ??= openOutbox(this.config, this.#outboxTarget).then(({ store }) => store).catch((err: unknown) => {
      this.#ownStore = null;
      throw err;
    });
    return this.#ownStore;
  }

  /** Start the in-process worker when asked for, and again if a store error ended it. */
  #ensureWorker(store: OutboxStore): void {
    if (!this.#deliverInProcess || this.#worker !== null || this.#closing !== null) return;
    try {
      // The store stays this logger's to close; the delivery owns only its client.
      if (this.#delivery?.store !== store) {
        void this.#delivery?.close();
        this.#delivery = deliveryOn(this.config, { store, owned: false }, { logger: this.#logger });
      }
      const worker = this.#delivery.startWorker();
      this.#worker = worker;
      worker.done.then(
        () => undefined,
        (err: unknown) => {
          this.#logger.error({ err: describeError(err) }, 'in-process worker stopped; it restarts with the next save');
          if (this.#worker === worker) this.#worker = null;
        },
      );
    } catch (err) {
      this.#logger.error({ err: describeError(err) }, 'cannot start the in-process worker; run `crm-upload worker`');
    }
  }

  /**
   * Resolves once the saves under way and the session files of every save so far are on disk (with
   * auto-upload a file follows its enqueue): for a caller that reads the file right after saving.
   */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#saves]);
    await Promise.allSettled([...this.#fileWrites]);
  }

  /**
   * Wait for saves under way and their session files, stop the in-process worker (in-flight requests get its grace period,
   * the rest go back to the outbox), and close the outbox this logger opened (not one passed in).
   * Idempotent. Saves after it still write their file but enqueue nothing (`E_CLOSED`).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#ready;
      await Promise.allSettled([...this.#saves]);
      // Session files written after their enqueue: on disk before close() returns.
      await Promise.allSettled([...this.#fileWrites]);
      const worker = this.#worker;
      this.#worker = null;
      if (worker) {
        await worker.stop();
        await worker.done.catch(() => undefined); // already logged by #ensureWorker
      }
      await this.#delivery?.close();
      this.#delivery = null;
      const own = this.#ownStore;
      this.#ownStore = null;
      if (own) await (await own.catch(() => null))?.close();
    })();
    return this.#closing;
  }
}
