/**
 * The seed module's functions, in camelCase (docs/architecture.md, "Library API"), for code written against the
 * old Python module: they take the same session and lead objects, and return contract parts.
 */
import { resolve } from 'node:path';
import { loadConfig, type Config } from '../config/config.ts';
import { InputError } from '../errors.ts';
import type { CallBundle, CallRecord, LeadFields } from '../ingest/call-record.ts';
import { detectJsonFormat } from '../ingest/detect-format.ts';
import { readParsed } from '../ingest/read-file.ts';
import { readLead } from '../ingest/read-lead.ts';
import { matchRun } from '../match/match-run.ts';
import { buildPayload, leadPart, type RecordingFigures } from '../payload/build-payload.ts';
import type { CallDetails, CallPayload, Transcription } from '../payload/call-payload.ts';
import { assertValidPayload } from '../payload/validate-payload.ts';
import { contentHash } from '../payload/canonical-json.ts';
import type { PreparedCall } from './prepare-call.ts';
import { enqueueAndDeliver, type UploadCallOptions, type UploadCallResult } from './upload-call.ts';

/** A session object as the voice agent holds it (transcript-logger session, LiveKit history dict, …). */
export type SessionObject = Record<string, unknown>;

/** Options shared by the session functions. */
export interface SessionOptions {
  /** Default: `loadConfig()` (environment and `.env`). */
  config?: Config;
  callerPhone?: string;
  callId?: string;
  /** Recording facts when the caller already knows them (the upload itself happens in the worker). */
  recording?: { path: string; size: number; durationSec: number | null; number?: string | null; epoch?: number | null };
}

/** Read a session object as a call (any conversation format, detected by content). */
export function callFromSession(session: SessionObject, config: Config): CallRecord {
  const format = detectJsonFormat(session);
  if (format === null || format === 'lead' || format === 'manifest') {
    throw new InputError(`not a conversation session (detected: ${format ?? 'unknown'})`, { code: 'E_INPUT_FORMAT', file: '<session>' });
  }
  // A session object has no file name; the reader derives a missing session id from the name (docs/architecture.md,
  // "Session ids"), so the name stands for the content: the same session gives the same callId on every
  // repeat, and two calls that start in the same second still get two.
  const id = typeof session.session_id === 'string' && session.session_id !== '' ? session.session_id : `session-${contentHash(session).slice(0, 16)}`;
  const result = readParsed(format, session, resolve(config.cwd, `${id}.json`), { sourceTimezone: config.sourceTimezone });
  if (result.kind !== 'call') throw new InputError('not a conversation session', { code: 'E_INPUT_FORMAT', file: '<session>' });
  return result.call;
}

/** Match and map a session object into a prepared call. */
export function prepareSession(session: SessionObject, options: SessionOptions = {}): PreparedCall {
  const config = options.config ?? loadConfig();
  const call = callFromSession(session, config);
  const recording = options.recording
    ? { file: resolve(config.cwd, options.recording.path), size: options.recording.size, durationSec: options.recording.durationSec, number: options.recording.number ?? null, epoch: options.recording.epoch ?? null }
    : undefined;
  const matched = matchRun({
    calls: [call],
    leads: [],
    recordings: [],
    manifests: [],
    explicit: {
      ...(recording ? { recording } : {}),
      ...(options.callerPhone ? { callerPhone: options.callerPhone } : {}),
      ...(options.callId ? { callId: options.callId } : {}),
    },
  });
  const bundle = matched.bundles[0] as CallBundle;
  const payload = buildPayload(bundle, config);
  assertValidPayload(payload, { callId: payload.callDetails.callId });
  return { bundle, payload, recordingPath: bundle.recording?.file ?? null, warnings: matched.warnings };
}

/** The whole contract payload of a session object (no I/O). */
export function sessionToPayload(session: SessionObject, options: SessionOptions = {}): CallPayload {
  return prepareSession(session, options).payload;
}

/** Enqueue a session's call durably and deliver it now (the seed's `upload_call_data_from_session`). */
export async function uploadCallDataFromSession(
  session: SessionObject,
  options: SessionOptions & Partial<UploadCallOptions> = {},
): Promise<UploadCallResult> {
  const config = options.config ?? loadConfig();
  return enqueueAndDeliver(prepareSession(session, { ...options, config }), { ...options, config });
}

/** The `transcription` part of a session object (the seed's `convert_transcript_to_api_format`). */
export function convertTranscriptToApiFormat(session: SessionObject, options: SessionOptions = {}): Transcription {
  return sessionToPayload(session, options).transcription as Transcription;
}

/** The `lead` part of a lead object (the seed's `convert_lead_to_api_format`): its 11 fields, UTC time. */
export function convertLeadToApiFormat(lead: Record<string, unknown>, options: { config?: Config } = {}): LeadFields {
  const config = options.config ?? loadConfig();
  const record = readLead(lead, '<lead>', { sourceTimezone: config.sourceTimezone });
  return leadPart(record) as LeadFields;
}

/** The `callDetails` part of a session's call (the seed's `create_call_details`). */
export function createCallDetails(session: SessionObject, options: SessionOptions & { recordingUrl?: string } = {}): CallDetails {
  const prepared = prepareSession(session, options);
  const figures: RecordingFigures = { url: options.recordingUrl ?? null };
  return buildPayload(prepared.bundle, options.config ?? loadConfig(), figures).callDetails;
}
