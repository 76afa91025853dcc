/**
 * `attachCrmUpload(ctx, session, options)`: one call in a LiveKit agent's entry function delivers the
 * call to the CRM exactly once.
 *
 * - While the call runs, every item the session adds to its history (`conversation_item_added`) and
 *   every tool call (`function_tools_executed`) is appended to the call's journal (session-journal.ts),
 *   one fsync'd line each: a crash or a hang-up loses nothing said before it.
 * - At the job's shutdown (`ctx.addShutdownCallback`, which LiveKit runs after the session closed), the
 *   session file is built from the journal and `session.history`, with the call's times, caller
 *   number, campaign ids and recording, and enqueued durably in the outbox; a worker delivers it. This
 *   takes milliseconds and never waits on the CRM.
 * - Nothing here throws into the agent: every failure is logged (PII masked) and leaves the journal
 *   for `crm-upload recover`, which the next `attachCrmUpload` also runs for journals of dead calls.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join, resolve } from 'node:path';
import { prepareSession } from '../../api/session-api.ts';
import { loadConfig, userCwd, type Config } from '../../config/config.ts';
import { ConfigError, describeError } from '../../errors.ts';
import { compactUtc } from '../../ingest/session-id.ts';
import { createLogger, type Logger } from '../../log/logger.ts';
import type { TranscriptItem } from '../../logger/transcript-logger.ts';
import { openOutbox } from '../../delivery/open-delivery.ts';
import type { OutboxStore } from '../../outbox/outbox-store.ts';
import { callDataValidator } from '../../payload/validate-payload.ts';
import { callInfoOf, type CallCampaign } from './call-metadata.ts';
import { callerFromRoom, callerOfParticipant } from './caller-from-room.ts';
import { sessionItemOf, sessionItemsOfHistory, sessionItemsOfToolsEvent } from './chat-items.ts';
import { endLineFor, errorInfo, finalizeJournal, type FinalizeResult } from './finalize-session.ts';
import { claimJournal, currentOwner, releaseJournal } from './journal-owner.ts';
import {
  CONVERSATION_ITEM_ADDED,
  FUNCTION_TOOLS_EXECUTED,
  PARTICIPANT_ATTRIBUTES_CHANGED,
  PARTICIPANT_CONNECTED,
  SESSION_CLOSE,
  type AgentSessionLike,
  type EmitterLike,
  type JobContextLike,
  type Listener,
  type ParticipantLike,
} from './livekit-types.ts';
import { recoverPartials, type RecoverResult } from './recover-partials.ts';
import { applyJournalLine, journalFileName, JournalWriter, newJournalState, type JournalHeader, type JournalLine, type JournalState } from './session-journal.ts';

/** Options of `attachCrmUpload`. Ids and numbers given here win over the job's metadata and the room. */
export interface AttachCrmUploadOptions extends CallCampaign {
  /** The caller's number; default the SIP participant's `sip.phoneNumber`, else the job metadata's. */
  callerNumber?: string;
  /** The call's recording (e.g. the egress file you started); default the session's own, else egress in `CRM_RECORDINGS_DIR`. */
  recordingPath?: string;
  /** When the call started; default now (the entry function runs as the call arrives). */
  startTime?: Date | string | number;
  /** Default `session_<start, UTC>_<8 hex digits of the job id>`: the same job always gives the same callId. */
  sessionId?: string;
  /** Where the journal and the session file go; default `CRM_CONVERSATIONS_DIR`, else `conversations`. */
  conversationsDir?: string;
  /** Default `loadConfig()` (environment and `.env`). */
  config?: Config;
  /** An open store (left open), or a target in `CRM_OUTBOX` form; default `CRM_OUTBOX`. */
  outbox?: OutboxStore | string;
  /** Default: pino on stderr at `LOG_LEVEL`, else `warn`, with PII masked. */
  logger?: Logger;
  /** Finalise the journals of dead calls in the same folder at start; default true. */
  recover?: boolean;
  /** The longest the shutdown callback waits for the enqueue (a stalled disk); default 1 s. */
  shutdownTimeoutMs?: number;
}

/** A call being recorded. */
export interface CrmUploadAttachment {
  readonly sessionId: string;
  /** UTC ISO. */
  readonly startTime: string;
  /** The call's journal (`….jsonl.partial`) until the call ends. */
  readonly journalPath: string;
  /** Resolves once the outbox is open and the start-time recovery is done. Never rejects. */
  readonly ready: Promise<void>;
  /** The journals of dead calls that the start-time recovery handled. Never rejects. */
  readonly recovered: Promise<RecoverResult[]>;
  /** Resolves once every item seen so far is on disk. Never rejects. */
  flushed(): Promise<void>;
  /**
   * End the call now: what the shutdown callback does (idempotent; later items are ignored). Never
   * rejects; a failure is in the result's `error`, and the journal is kept for `recover`.
   */
  finalize(): Promise<FinalizeResult>;
}

/** Default of `shutdownTimeoutMs`. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 1000;

/** Where a caller number came from, strongest last. */
const CALLER_RANK = { none: 0, job: 1, room: 2, option: 3 } as const;
type CallerSource = keyof typeof CALLER_RANK;

function nonEmpty(value: string | undefined | null): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

function startOf(given: AttachCrmUploadOptions['startTime'], logger: Logger): Date {
  if (given === undefined) return new Date();
  const date = given instanceof Date ? given : new Date(given);
  if (Number.isFinite(date.getTime())) return date;
  logger.warn({ startTime: String(given) }, 'startTime is not a time; the call starts now');
  return new Date();
}

/** `session_<YYYYMMDD_HHMMSS>_<8 hex>`: derived from the job id when there is one, random otherwise. */
function sessionIdFor(start: Date, jobId: string | null): string {
  const hex = jobId === null ? randomBytes(4).toString('hex') : createHash('sha256').update(`livekit-job:${jobId}`).digest('hex').slice(0, 8);
  return `session_${compactUtc(start.toISOString())}_${hex}`;
}

/**
 * Run the mapping the end of the call runs (format-1 reader, matching, payload, contract, phone
 * numbers) once on a made-up session, while the call is on: the first run of each compiles and loads
 * what it needs, which would otherwise fall into the shutdown, where only milliseconds are allowed.
 */
function warmUp(config: Config, startTime: string): void {
  const at = Date.parse(startTime);
  const time = (s: number) => new Date(at + s * 1000).toISOString();
  try {
    prepareSession(
      {
        session_id: 'session_00000000_000000_warmup00',
        start_time: time(0),
        end_time: time(2),
        items: [
          { id: 'item_w1', type: 'message', role: 'assistant', content: ['Hello'], interrupted: false, timestamp: time(0) },
          { id: 'item_w2', type: 'message', role: 'user', content: ['Hi'], transcript_confidence: 0.9, timestamp: time(1) },
          { type: 'function_call', name: 'create_lead', arguments: '{"name":"W","phone":"9999900000"}', call_id: 'w', timestamp: time(1) },
        ],
        metadata: { campaign_metadata: { campaignId: 'w', voiceAgentId: 'w', clientId: 'w', dialedNumber: '+919999900000' } },
      },
      { config },
    );
  } catch {
    // Only a warm-up: the real call reports its own errors.
  }
}

class Attachment implements CrmUploadAttachment {
  readonly sessionId: string;
  readonly startTime: string;
  readonly journalPath: string;
  readonly ready: Promise<void>;
  readonly recovered: Promise<RecoverResult[]>;
  readonly #ctx: JobContextLike;
  readonly #session: AgentSessionLike;
  readonly #options: AttachCrmUploadOptions;
  readonly #logger: Logger;
  readonly #config: Config | null;
  readonly #configError: unknown;
  readonly #state: JournalState;
  readonly #writer: JournalWriter;
  readonly #store: Promise<OutboxStore> | null;
  readonly #ownStore: boolean;
  readonly #listeners: { target: EmitterLike; event: string; listener: Listener }[] = [];
  #callerSource: CallerSource = 'none';
  #closedAt: number | null = null;
  #final: Promise<FinalizeResult> | null = null;

  constructor(ctx: JobContextLike, session: AgentSessionLike, options: AttachCrmUploadOptions) {
    this.#ctx = ctx;
    this.#session = session;
    this.#options = options;
    this.#logger = options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
    let config: Config | null = null;
    let configError: unknown = null;
    try {
      config = options.config ?? loadConfig();
    } catch (err) {
      configError = err;
      this.#logger.error({ err: describeError(err) }, 'crm-upload configuration is invalid: the call is journaled, but not enqueued until `crm-upload recover`');
    }
    this.#config = config;
    this.#configError = configError;
    const cwd = config?.cwd ?? userCwd();
    const dir = resolve(cwd, options.conversationsDir ?? config?.conversationsDir ?? 'conversations');

    const start = startOf(options.startTime, this.#logger);
    this.startTime = start.toISOString();
    const jobId = nonEmpty(ctx.job?.id);
    this.sessionId = nonEmpty(options.sessionId) ?? sessionIdFor(start, jobId);
    this.journalPath = join(dir, journalFileName(this.sessionId));

    const info = callInfoOf(ctx, options);
    const livekit: Record<string, string> = {};
    if (jobId !== null) livekit.job_id = jobId;
    const roomName = nonEmpty(ctx.room?.name) ?? nonEmpty(ctx.job?.room?.name);
    if (roomName !== null) livekit.room = roomName;
    const metadata: Record<string, unknown> = {};
    if (Object.keys(info.campaign).length > 0) metadata.campaign_metadata = { ...info.campaign };
    if (Object.keys(livekit).length > 0) metadata.livekit = livekit;

    const header: JournalHeader = {
      kind: 'header',
      format: 'crm-upload/livekit-journal',
      version: 1,
      session_id: this.sessionId,
      start_time: this.startTime,
      owner: currentOwner(),
      metadata,
      caller_number: null,
      recording_path: nonEmpty(options.recordingPath),
      session_directory: nonEmpty(ctx.sessionDirectory),
    };
    this.#state = newJournalState(header);
    // First, so that a context that refuses it fails the attachment before any journal exists.
    ctx.addShutdownCallback(() => this.#onShutdown());
    // Claimed before the file exists, so that no recovery running in this process takes it.
    claimJournal(this.journalPath);
    this.#writer = new JournalWriter(this.journalPath, header, this.#logger);
    const option = nonEmpty(options.callerNumber);
    if (option !== null) this.#setCaller(option, 'option');
    else if (info.dialedNumber !== null) this.#setCaller(info.dialedNumber, 'job');
    this.#refreshCaller();

    const given = typeof options.outbox === 'object' ? options.outbox : null;
    this.#ownStore = given === null;
    if (config === null) {
      this.#store = null;
    } else {
      // Opened now, so that the enqueue at the end of the call takes milliseconds.
      this.#store = openOutbox(config, options.outbox).then(({ store }) => store);
      this.#store.catch((err: unknown) => {
        this.#logger.error({ code: errorInfo(err).code, err: describeError(err) }, 'cannot open the outbox: the call is journaled, but not enqueued until `crm-upload recover`');
      });
    }
    this.recovered = this.#startup(dir);
    this.ready = this.recovered.then(() => undefined);

    this.#listen(session, CONVERSATION_ITEM_ADDED, (event: unknown) => {
      const item = sessionItemOf((event as { item?: unknown } | null)?.item);
      this.#refreshCaller();
      this.#captureRecorder();
      if (item !== null) this.#record(item);
    });
    this.#listen(session, FUNCTION_TOOLS_EXECUTED, (event: unknown) => {
      for (const item of sessionItemsOfToolsEvent(event)) this.#record(item);
    });
    this.#listen(session, SESSION_CLOSE, (event: unknown) => {
      const ev = (event ?? {}) as { createdAt?: unknown; reason?: unknown };
      this.#closedAt = typeof ev.createdAt === 'number' && Number.isFinite(ev.createdAt) ? ev.createdAt : Date.now();
      if (typeof ev.reason === 'string' && ev.reason !== '') this.#append({ kind: 'meta', metadata: { livekit: { ...livekit, close_reason: ev.reason } } });
      this.#captureRecorder();
    });
    const room = ctx.room;
    if (room !== undefined && typeof room.on === 'function') {
      const target = room as EmitterLike;
      this.#listen(target, PARTICIPANT_CONNECTED, (participant: unknown) => this.#callerFrom(participant as ParticipantLike));
      this.#listen(target, PARTICIPANT_ATTRIBUTES_CHANGED, (_changed: unknown, participant: unknown) => this.#callerFrom(participant as ParticipantLike));
    }
    // Attached after session.start(): what the history already holds is journaled now.
    this.#mergeHistory();
    this.#logger.debug({ sessionId: this.sessionId, journal: this.journalPath }, 'crm-upload attached to the LiveKit session');
  }

  flushed(): Promise<void> {
    return this.#writer.flushed();
  }

  finalize(): Promise<FinalizeResult> {
    this.#final ??= this.#finalize();
    return this.#final;
  }

  /** Validator and outbox warmed up, then the journals of dead calls finalised. Never rejects. */
  async #startup(dir: string): Promise<RecoverResult[]> {
    await sleep(0);
    if (this.#config === null || this.#store === null) return [];
    try {
      // Compiling the contract takes tens of milliseconds: done now, not when the call ends.
      callDataValidator();
    } catch (err) {
      this.#logger.error({ err: describeError(err) }, 'cannot compile the call-data contract');
    }
    warmUp(this.#config, this.startTime);
    let store: OutboxStore;
    try {
      store = await this.#store;
    } catch {
      return []; // logged where the store is opened
    }
    if (this.#options.recover === false) return [];
    try {
      const results = await recoverPartials(dir, { config: this.#config, outbox: store, logger: this.#logger });
      return results.filter((r) => r.journal !== this.journalPath);
    } catch (err) {
      this.#logger.error({ err: describeError(err) }, 'cannot recover the journals of earlier calls; run `crm-upload recover`');
      return [];
    }
  }

  /** An emitter listener that can never throw into LiveKit's code, removed when the call ends. */
  #listen(target: EmitterLike, event: string, handler: (...args: unknown[]) => void): void {
    const listener = ((...args: unknown[]) => {
      if (this.#final !== null) return;
      try {
        handler(...args);
      } catch (err) {
        this.#logger.error({ event, err: describeError(err) }, 'crm-upload could not handle a LiveKit event');
      }
    }) as Listener;
    try {
      target.on(event, listener);
      this.#listeners.push({ target, event, listener });
    } catch (err) {
      this.#logger.error({ event, err: describeError(err) }, 'cannot listen to a LiveKit event');
    }
  }

  #append(line: JournalLine): void {
    applyJournalLine(this.#state, line);
    this.#writer.append(line);
  }

  #record(item: TranscriptItem): void {
    this.#append({ kind: 'item', item });
  }

  #setCaller(number: string, source: CallerSource): void {
    if (CALLER_RANK[source] < CALLER_RANK[this.#callerSource]) return;
    if (CALLER_RANK[source] === CALLER_RANK[this.#callerSource] && number === this.#state.callerNumber) return;
    this.#callerSource = source;
    this.#append({ kind: 'meta', caller_number: number });
  }

  #callerFrom(participant: ParticipantLike | null | undefined): void {
    const number = callerOfParticipant(participant);
    if (number !== null) this.#setCaller(number, 'room');
  }

  /** The SIP caller, read while the participant is still in the room. */
  #refreshCaller(): void {
    if (this.#callerSource === 'option') return;
    let number: string | null = null;
    try {
      number = callerFromRoom(this.#ctx.room);
    } catch (err) {
      this.#logger.warn({ err: describeError(err) }, 'cannot read the room participants');
    }
    if (number !== null) this.#setCaller(number, 'room');
  }

  /** The file the session's recorder writes, once `session.start({ record })` started it. */
  #captureRecorder(): void {
    let path: string | null = null;
    try {
      path = nonEmpty(this.#session._recorderIO?.outputPath);
    } catch {
      return;
    }
    if (path !== null && path !== this.#state.agentRecording) this.#append({ kind: 'meta', agent_recording: path });
  }

  async #onShutdown(): Promise<void> {
    const budget = this.#options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    const timer = new AbortController();
    try {
      const outcome = await Promise.race([
        this.finalize().then(() => 'done' as const),
        sleep(budget, 'late' as const, { signal: timer.signal }).catch(() => 'done' as const),
      ]);
      if (outcome === 'late') {
        this.#logger.warn({ sessionId: this.sessionId, budgetMs: budget }, 'the enqueue did not finish in time; shutdown goes on, the journal is finalised by the next start or `crm-upload recover`');
      }
    } catch (err) {
      this.#logger.error({ err: describeError(err) }, 'crm-upload shutdown failed');
    } finally {
      timer.abort();
    }
  }

  async #finalize(): Promise<FinalizeResult> {
    const base = { journal: this.journalPath, sessionId: this.sessionId, enqueued: false };
    try {
      for (const { target, event, listener } of this.#listeners) {
        try {
          target.off?.(event, listener);
        } catch {
          // An emitter that cannot remove a listener: the listener ignores events from now on anyway.
        }
      }
      this.#refreshCaller();
      this.#captureRecorder();
      this.#mergeHistory();
      const cwd = this.#config?.cwd ?? userCwd();
      const end = await endLineFor(this.#state, dirname(this.journalPath), this.#closedAt ?? Date.now(), { recordingsDir: this.#config?.recordingsDir ?? null, cwd }, this.#logger);
      this.#append(end);
      await this.#writer.close();
      if (this.#config === null || this.#store === null) {
        // Nothing to map the call with: the journal, complete with its end line, waits for `recover`.
        const err = this.#configError ?? new ConfigError('no configuration');
        return { ...base, error: errorInfo(err) };
      }
      const store = await this.#store;
      const result = await finalizeJournal(this.journalPath, this.#state, { config: this.#config, store, logger: this.#logger });
      if (result.error === undefined) this.#logger.debug({ callId: result.callId, file: result.file }, 'call enqueued');
      return result;
    } catch (err) {
      const error = errorInfo(err);
      this.#logger.error({ sessionId: this.sessionId, code: error.code, err: error.message }, 'the call was not enqueued; its journal is kept for `crm-upload recover`');
      return { ...base, error };
    } finally {
      releaseJournal(this.journalPath);
      this.#closeOwnStore();
    }
  }

  /**
   * `session.history` is the whole conversation, tool calls included; the journal has what the
   * events announced. Items the journal lacks, or holds in an earlier form (the history strips the
   * expressive-TTS markup), are appended, so the journal stays the one source of the session file.
   */
  #mergeHistory(): void {
    let json: unknown;
    try {
      json = this.#session.history?.toJSON({ excludeTimestamp: false, excludeImage: true, excludeAudio: true, stripMarkup: true });
    } catch (err) {
      this.#logger.warn({ err: describeError(err) }, 'cannot read session.history; the journaled items are used');
      return;
    }
    const known = new Map<string, string>();
    const anonymous = new Set<string>();
    for (const item of this.#state.items) {
      const text = JSON.stringify(item);
      if (typeof item.id === 'string') known.set(item.id, text);
      else anonymous.add(text);
    }
    for (const item of sessionItemsOfHistory(json)) {
      const text = JSON.stringify(item);
      const same = typeof item.id === 'string' ? known.get(item.id) === text : anonymous.has(text);
      if (!same) this.#record(item);
    }
  }

  /** Close the outbox this attachment opened, once the start-time recovery no longer needs it. */
  #closeOwnStore(): void {
    if (!this.#ownStore || this.#store === null) return;
    const store = this.#store;
    void this.ready
      .then(() => store)
      .then((s) => s.close())
      .catch((err: unknown) => this.#logger.debug({ err: describeError(err) }, 'closing the outbox failed'));
  }
}

/**
 * Record a LiveKit Agents call and deliver it to the CRM when the job shuts down. Call it once in the
 * entry function, before `session.start()`; it returns at once and never throws.
 *
 * ```ts
 * export default defineAgent({
 *   entry: async (ctx) => {
 *     const session = new voice.AgentSession({ … });
 *     attachCrmUpload(ctx, session, { campaignId: 'camp-1' });
 *     await session.start({ agent, room: ctx.room, record: true });
 *     await ctx.connect();
 *   },
 * });
 * ```
 */
export function attachCrmUpload(ctx: JobContextLike, session: AgentSessionLike, options: AttachCrmUploadOptions = {}): CrmUploadAttachment {
  try {
    return new Attachment(ctx, session, options);
  } catch (err) {
    // A context or session unlike LiveKit's (a getter that throws): the call goes on without us.
    const logger = options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
    logger.error({ err: describeError(err) }, 'crm-upload could not attach to the LiveKit session; this call is not recorded');
    return detachedAttachment(err);
  }
}

/** What `attachCrmUpload` returns when it could not attach: every method answers with the error. */
function detachedAttachment(err: unknown): CrmUploadAttachment {
  const error = errorInfo(err);
  return {
    sessionId: '',
    startTime: new Date().toISOString(),
    journalPath: '',
    ready: Promise.resolve(),
    recovered: Promise.resolve([]),
    flushed: () => Promise.resolve(),
    finalize: () => Promise.resolve({ journal: '', sessionId: '', enqueued: false, error }),
  };
}
