/**
 * The TypeScript counterpart of the seed's `transcript_logger.py`: save a conversation session to a
 * file atomically and, when auto-upload is on, enqueue the call durably and return. It never waits on
 * the CRM and never throws into the agent's code because the CRM (or the upload path) fails: a worker
 * delivers, and the error is logged and returned. Only a failure to write the session file rejects,
 * since then the agent's data was not saved.
 */
import { open, rename, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { prepareCall } from '../api/prepare-call.ts';
import { crmClientFor } from '../api/delivery-session.ts';
import { loadConfig, userCwd, type Config } from '../config/config.ts';
import { CrmUploadError, describeError } from '../errors.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { createOutbox } from '../outbox/create-outbox.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import type { CrmClient } from '../crm/crm-client.ts';
import { startWorker, type WorkerHandle } from '../worker/worker.ts';
import { callDataValidator } from '../payload/validate-payload.ts';

/** A session as the seed's logger held it. Dates are written as UTC ISO. */
export interface TranscriptSession {
  session_id: string;
  start_time: string | Date;
  end_time: string | Date;
  items: Record<string, unknown>[];
  total_items?: number;
  duration_seconds?: number;
  lead_generated?: boolean;
  metadata?: Record<string, unknown>;
}

/** What a save did. */
export interface SaveResult {
  /** The session file written. */
  file: string;
  callId?: string;
  /** True when the call went into the outbox now (false: auto-upload off, already there, or an error). */
  enqueued: boolean;
  error?: { code: string; message: string };
}

/** Options; each defaults to the environment (`CRM_CONVERSATIONS_DIR`, `CRM_AUTO_UPLOAD`, `CRM_OUTBOX`). */
export interface TranscriptLoggerOptions {
  conversationsDir?: string;
  autoUpload?: boolean;
  /** An open store, or a target (`CRM_OUTBOX` form). */
  outbox?: OutboxStore | string;
  config?: Config;
  logger?: Logger;
  /** Deliver in this process, in the background, until `close()`. */
  deliverInProcess?: boolean;
}

/** `2025-10-23T07-57-04.661114`: the save time, UTC, as the seed named its files. */
function fileStamp(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace(/:/g, '-')}.${String(d.getUTCMilliseconds()).padStart(3, '0')}000`;
}

function iso(value: string | Date): string {
  return value instanceof Date ? value.toISOString() : value;
}

/** Saves sessions and, with auto-upload, enqueues them. */
export class TranscriptLogger {
  readonly conversationsDir: string;
  readonly autoUpload: boolean;
  readonly config: Config;
  readonly #logger: Logger;
  readonly #outboxOption: OutboxStore | string | undefined;
  readonly #deliverInProcess: boolean;
  #store: Promise<OutboxStore> | null = null;
  #ownsStore = false;
  #worker: WorkerHandle | null = null;
  #client: CrmClient | null = null;

  constructor(options: TranscriptLoggerOptions = {}) {
    this.config = options.config ?? loadConfig();
    this.conversationsDir = resolve(this.config.cwd ?? userCwd(), options.conversationsDir ?? this.config.conversationsDir ?? 'conversations');
    this.autoUpload = options.autoUpload ?? this.config.autoUpload;
    this.#logger = options.logger ?? silentLogger();
    this.#outboxOption = options.outbox;
    this.#deliverInProcess = options.deliverInProcess ?? false;
    // Compile the contract at start-up, not during the first call's save: the save must take milliseconds.
    if (this.autoUpload) callDataValidator();
  }

  /** The outbox, opened on first use. */
  #outbox(): Promise<OutboxStore> {
    this.#store ??= (async () => {
      const given = this.#outboxOption;
      if (given !== undefined && typeof given !== 'string') return given;
      this.#ownsStore = true;
      return createOutbox(given ?? this.config.outbox);
    })();
    return this.#store;
  }

  /** Write the session file atomically (temp `.partial` file, fsync, rename), then enqueue if asked. */
  async saveConversationSession(session: TranscriptSession): Promise<SaveResult> {
    const start = iso(session.start_time);
    const end = iso(session.end_time);
    const doc = {
      ...session,
      start_time: start,
      end_time: end,
      total_items: session.total_items ?? session.items.length,
      duration_seconds: session.duration_seconds ?? Math.max(0, (Date.parse(end) - Date.parse(start)) / 1000),
      lead_generated: session.lead_generated ?? session.items.some((i) => i.type === 'function_call' && i.name === 'create_lead'),
      metadata: session.metadata ?? {},
    };
    await mkdir(this.conversationsDir, { recursive: true });
    const file = join(this.conversationsDir, `transcript_session_${fileStamp(new Date())}.json`);
    const temp = `${file}.partial`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(JSON.stringify(doc, null, 2));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    if (!this.autoUpload) return { file, enqueued: false };

    try {
      const prepared = await prepareCall({ transcript: file }, this.config);
      const store = await this.#outbox();
      const callId = prepared.payload.callDetails.callId;
      const r = await store.enqueue({ callId, payload: prepared.payload, recordingPath: prepared.recordingPath, sourceFile: file });
      this.#ensureWorker(store);
      return { file, callId, enqueued: r.enqueued };
    } catch (err) {
      this.#logger.error({ file, err: describeError(err) }, 'session saved but not enqueued');
      return { file, enqueued: false, error: { code: err instanceof CrmUploadError ? err.code : 'E_UNEXPECTED', message: describeError(err) } };
    }
  }

  #ensureWorker(store: OutboxStore): void {
    if (!this.#deliverInProcess || this.#worker !== null) return;
    this.#client = crmClientFor(this.config, this.#logger);
    this.#worker = startWorker({ store, client: this.#client, config: this.config, logger: this.#logger });
    this.#worker.done.catch((err: unknown) => this.#logger.error({ err: describeError(err) }, 'in-process worker stopped'));
  }

  /** Stop the in-process worker and close the outbox this logger opened. */
  async close(): Promise<void> {
    if (this.#worker) {
      await this.#worker.stop();
      await this.#worker.done.catch(() => undefined);
      this.#worker = null;
    }
    await this.#client?.close();
    this.#client = null;
    if (this.#store && this.#ownsStore) await (await this.#store).close();
    this.#store = null;
  }
}
