/**
 * One call, end to end: prepare it (read, match, map, validate), enqueue it durably, then deliver it
 * now through the worker. If delivery does not finish within `maxWaitMs` the call stays queued for
 * `crm-upload worker`; nothing is lost.
 */
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import type { OutboxItem, OutboxState, OutboxStore } from '../outbox/outbox-store.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { openDelivery } from '../delivery/open-delivery.ts';
import { prepareCall, type CallFiles, type PreparedCall } from './prepare-call.ts';

/** Options of a single-call upload. */
export interface UploadCallOptions {
  config: Config;
  /** Use this outbox instead of opening `config.outbox`. */
  store?: OutboxStore;
  logger?: Logger;
  /** How long to keep delivering before leaving the call to the worker; default 2 minutes. */
  maxWaitMs?: number;
  /**
   * Stops delivering early (Ctrl-C in the CLI): a request in flight finishes within the worker's grace
   * period and its outcome is committed; otherwise the call stays queued for the worker.
   */
  signal?: AbortSignal;
}

/** The outcome of one call. */
export interface UploadCallResult {
  callId: string;
  /** False when the call was already in the outbox (then nothing new was queued). */
  enqueued: boolean;
  /** The state at the end: `delivered`, `dead`, or `pending`/`in_flight` (left to the worker). */
  state: OutboxState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  recordingUrl: string | null;
  payload: CallPayload;
}

/** Default of `--max-wait` (docs/architecture.md, "Bulk waits, within reason"). */
export const DEFAULT_MAX_WAIT_MS = 120_000;

function resultOf(prepared: PreparedCall, enqueued: boolean, item: OutboxItem | null | undefined): UploadCallResult {
  return {
    callId: prepared.payload.callDetails.callId,
    enqueued,
    state: item?.state ?? 'pending',
    attempts: item?.attempts ?? 0,
    lastStatus: item?.lastStatus ?? null,
    lastError: item?.lastError ?? null,
    recordingUrl: item?.recording.url ?? null,
    payload: prepared.payload,
  };
}

/** Enqueue a prepared call and deliver it now. */
export async function enqueueAndDeliver(prepared: PreparedCall, options: UploadCallOptions): Promise<UploadCallResult> {
  const session = await openDelivery(options.config, options);
  try {
    const callId = prepared.payload.callDetails.callId;
    const { enqueued } = await session.store.enqueue({
      callId,
      payload: prepared.payload,
      recordingPath: prepared.recordingPath,
      sourceFile: prepared.bundle.call.file,
    });
    const summary = await session.deliverCalls({
      callIds: [callId],
      maxWaitMs: options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
      signal: options.signal,
    });
    return resultOf(prepared, enqueued, summary.perCall.get(callId) ?? (await session.store.get(callId)));
  } finally {
    await session.close();
  }
}

/** Upload one call from its files (what `crm-upload send` does). */
export async function uploadFromTranscriptFile(files: CallFiles | string, options: UploadCallOptions): Promise<UploadCallResult> {
  const prepared = await prepareCall(typeof files === 'string' ? { transcript: files } : files, options.config);
  return enqueueAndDeliver(prepared, options);
}
