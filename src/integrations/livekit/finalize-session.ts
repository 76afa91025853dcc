/**
 * Turning a journal into a delivered-to-be call, the same way at the end of a call and in `recover`:
 * fix the end (time, session file name, recording) in the journal's `end` line, write the
 * transcript-logger session file atomically, enqueue it durably through the path the TranscriptLogger
 * takes (`prepareCall` → `store.enqueue`, so the payload mapping is the one of every other input), and
 * remove the journal. Each step can be cut short by a crash and run again: the session file's name is
 * fixed before it is written, and the outbox is idempotent by callId.
 */
import { readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { prepareCall } from '../../api/prepare-call.ts';
import type { Config } from '../../config/config.ts';
import { CrmUploadError, describeError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { fileStamp, sessionDocument, type TranscriptItem, type TranscriptSession } from '../../logger/transcript-logger.ts';
import type { OutboxState, OutboxStore } from '../../outbox/outbox-store.ts';
import { chooseRecording, type RecordingSources } from './find-recording.ts';
import type { JournalEndLine, JournalState } from './session-journal.ts';
import { pathExists, writeFileAtomically } from '../../fs/durable.ts';

/** What finalising one call did. Never thrown: a failure is in `error`, and the journal is kept for `recover`. */
export interface FinalizeResult {
  /** The journal it came from. */
  journal: string;
  sessionId: string;
  /** The session file, once its name is fixed. */
  file?: string;
  callId?: string;
  /** True when the call went into the outbox now; false when it was already there, or on error. */
  enqueued: boolean;
  /** The call's state in the outbox after the enqueue. */
  state?: OutboxState;
  /** The recording given to the worker, or null. */
  recording?: string | null;
  /** Why it did not finish (`E_CONFIG`, `E_INPUT_…`, `E_SESSION_WRITE`, …). */
  error?: { code: string; message: string };
}

/** Code of a session file that could not be written. */
export const E_SESSION_WRITE = 'E_SESSION_WRITE';

/** The error as `{code, message}`. */
export function errorInfo(err: unknown): { code: string; message: string } {
  return { code: err instanceof CrmUploadError ? err.code : 'E_UNEXPECTED', message: describeError(err) };
}

function timeMs(item: TranscriptItem): number | null {
  const t = item.timestamp;
  const ms = typeof t === 'string' ? Date.parse(t) : t instanceof Date ? t.getTime() : NaN;
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Items in time order. The journal has them as events arrived and the history adds tool calls at the
 * end; a stable sort by time puts each where it happened, and an item without a time stays after the
 * one before it.
 */
export function chronological(items: readonly TranscriptItem[]): TranscriptItem[] {
  let last = -Infinity;
  const keyed = items.map((item, index) => {
    last = timeMs(item) ?? last;
    return { item, index, key: last };
  });
  keyed.sort((a, b) => a.key - b.key || a.index - b.index);
  return keyed.map((k) => k.item);
}

/** The latest item time, or null. */
export function lastItemMs(items: readonly TranscriptItem[]): number | null {
  let latest: number | null = null;
  for (const item of items) {
    const ms = timeMs(item);
    if (ms !== null && (latest === null || ms > latest)) latest = ms;
  }
  return latest;
}

/**
 * The session's `metadata`: what the journal gathered, with the caller's number as the seed's
 * `campaign_metadata.dialedNumber`, where every reader (and `bulk`, re-reading the file) finds it.
 */
function metadataOf(state: JournalState): Record<string, unknown> {
  const metadata = { ...state.metadata };
  const campaign = typeof metadata.campaign_metadata === 'object' && metadata.campaign_metadata !== null ? { ...(metadata.campaign_metadata as Record<string, unknown>) } : {};
  if (state.callerNumber !== null) campaign.dialedNumber = state.callerNumber;
  if (Object.keys(campaign).length > 0) metadata.campaign_metadata = campaign;
  else delete metadata.campaign_metadata;
  return metadata;
}

/** The transcript-logger session a journal describes (its end line must be there). */
export function sessionOfJournal(state: JournalState, end: JournalEndLine): TranscriptSession {
  return {
    session_id: state.header.session_id,
    start_time: state.header.start_time,
    end_time: end.end_time,
    items: chronological(state.items),
    metadata: metadataOf(state),
  };
}

/** The session id written in a session file, or null when it cannot be read. */
async function sessionIdIn(file: string): Promise<string | null> {
  try {
    const doc = JSON.parse(await readFile(file, 'utf8')) as { session_id?: unknown };
    return typeof doc.session_id === 'string' ? doc.session_id : null;
  } catch {
    return null;
  }
}


/**
 * The session file's base name: `transcript_session_<end, UTC, µs>.json` like the TranscriptLogger's
 * (saved when the call ends). A name another session already took moves on by a microsecond; one this
 * session took already (a finalisation cut short) is this session's.
 */
export async function chooseSessionFileName(dir: string, endMs: number, sessionId: string): Promise<string> {
  for (let us = Math.floor(endMs) * 1000; ; us++) {
    const name = `transcript_session_${fileStamp(us)}.json`;
    const path = join(dir, name);
    if (!(await pathExists(path)) || (await sessionIdIn(path)) === sessionId) return name;
  }
}

export { syncDir, TEMP_SUFFIX, writeFileAtomically } from '../../fs/durable.ts';

/**
 * The end line of a call without one: its end time (`endMs`, or the latest thing the journal knows),
 * its session file's name and its recording.
 */
export async function endLineFor(
  state: JournalState,
  dir: string,
  endMs: number | null,
  sources: Omit<RecordingSources, 'agentRecording' | 'sessionDirectory' | 'explicit'>,
  logger: Logger,
): Promise<JournalEndLine> {
  const startMs = Date.parse(state.header.start_time);
  const end = Math.max(endMs ?? -Infinity, lastItemMs(state.items) ?? -Infinity, Number.isFinite(startMs) ? startMs : -Infinity);
  const endIso = new Date(Number.isFinite(end) ? end : Date.now()).toISOString();
  const file = await chooseSessionFileName(dir, Date.parse(endIso), state.header.session_id);
  const recording = await chooseRecording(
    {
      ...sources,
      explicit: state.header.recording_path,
      agentRecording: state.agentRecording,
      sessionDirectory: state.header.session_directory,
    },
    { startTime: state.header.start_time, endTime: endIso, callerNumber: state.callerNumber, file: join(dir, file) },
    logger,
  );
  return { kind: 'end', end_time: endIso, file, recording_path: recording };
}

/** What `finalizeJournal` needs. */
export interface FinalizeDeps {
  config: Config;
  /** The outbox, opened by the caller (finalising never opens one, so it stays fast). */
  store: OutboxStore;
  logger: Logger;
}

/**
 * Write the session file of a journal whose end line is fixed, enqueue the call, and remove the
 * journal. Never rejects: on any failure the journal is kept (for `recover`) and the error returned.
 */
export async function finalizeJournal(journal: string, state: JournalState, deps: FinalizeDeps): Promise<FinalizeResult> {
  const sessionId = state.header.session_id;
  const end = state.end;
  if (end === null) {
    return { journal, sessionId, enqueued: false, error: { code: 'E_UNEXPECTED', message: 'the journal has no end line' } };
  }
  const file = join(dirname(journal), end.file);
  const result: FinalizeResult = { journal, sessionId, file, enqueued: false, recording: end.recording_path };
  try {
    if ((await sessionIdIn(file)) !== sessionId) {
      try {
        const text = JSON.stringify(sessionDocument(sessionOfJournal(state, end), new Date(end.end_time)), null, 2);
        await writeFileAtomically(file, text);
      } catch (err) {
        throw new CrmUploadError(`the session file was not written: ${describeError(err)}`, { code: E_SESSION_WRITE, file, cause: err });
      }
    }
    const prepared = await prepareCall({ transcript: file }, deps.config);
    result.callId = prepared.payload.callDetails.callId;
    const enqueued = await deps.store.enqueue({ callId: result.callId, payload: prepared.payload, recordingPath: end.recording_path, sourceFile: file });
    result.enqueued = enqueued.enqueued;
    result.state = enqueued.state;
  } catch (err) {
    result.error = errorInfo(err);
    deps.logger.error({ journal, file, callId: result.callId, code: result.error.code, err: result.error.message }, 'the call was not enqueued; its journal is kept for `crm-upload recover`');
    return result;
  }
  try {
    // Not fsync'd: a removal lost in a crash only means the next recovery finalises the journal again,
    // which writes and enqueues nothing new.
    await unlink(journal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') deps.logger.warn({ journal, err: describeError(err) }, 'cannot remove the journal of an enqueued call');
  }
  return result;
}
