/**
 * The body of `POST /v1/calls` → a call ready to enqueue. The session is read by content (any
 * conversation format, as `prepareSession` reads it), then matched and mapped exactly as
 * `prepareSession` does, with the request's own lead, recording, caller number, callId and ids as the
 * explicit values that win over everything. Every problem of the request is collected first and refused
 * together, each naming its field path in the request.
 */
import { detectJsonFormat } from '../ingest/detect-format.ts';
import type { Config } from '../config/config.ts';
import { CrmUploadError, PayloadValidationError } from '../errors.ts';
import { callFromSession } from '../api/session-api.ts';
import type { PreparedCall } from '../api/prepare-call.ts';
import type { CallRecord, CampaignMetadata, LeadRecord, RecordingFacts } from '../ingest/call-record.ts';
import { isObject } from '../ingest/fields.ts';
import { InputProblemsError } from '../ingest/problems.ts';
import { readLead } from '../ingest/read-lead.ts';
import { isIncompleteAudio } from '../ingest/audio.ts';
import { parseRecordingName, readRecording } from '../ingest/read-recording.ts';
import { describeValue } from '../ingest/timestamps.ts';
import { matchRun } from '../match/match-run.ts';
import { buildPayload } from '../payload/build-payload.ts';
import { assertValidPayload } from '../payload/validate-payload.ts';
import { callIdProblem, E_CALL_ID, shownCallId } from '../payload/call-id-rules.ts';
import { capText, E_SERVE_INVALID, invalidRequest, MAX_FIELD_CHARS, MAX_PROBLEMS, type RequestProblem } from './errors.ts';
import { resolveRecordingPath } from './recording-path.ts';
import type { ReceivedFile } from './uploaded-recording.ts';

/** The fields of a call in `POST /v1/calls` (the JSON body, or the `call` field of a multipart body). */
export const CALL_FIELDS = ['session', 'lead', 'recordingPath', 'callerNumber', 'callId', 'campaignId', 'voiceAgentId', 'clientId'] as const;

/** Code of a call without a campaign, agent or client id while the server has none configured. */
export const E_SERVE_MISSING_ID = 'E_SERVE_MISSING_ID';

/** The per-call ids a request may give, with the variable that configures each. */
const ID_FIELDS = [
  { key: 'campaignId', variable: 'CRM_CAMPAIGN_ID', setting: 'campaignId' },
  { key: 'voiceAgentId', variable: 'CRM_VOICE_AGENT_ID', setting: 'voiceAgentId' },
  { key: 'clientId', variable: 'CRM_CLIENT_ID', setting: 'clientId' },
] as const;

// Name the readers give the request's lead (a lead file's name would carry a time; this one none).
const LEAD_NAME = '<lead>';

/** A recording that came with the request (multipart): received, and where it will be kept. */
export interface UploadedRecording {
  file: ReceivedFile;
  /** Its path once kept (`keptPathOf`): what the outbox item points at. */
  keptPath: string;
}

/** A call ready to enqueue. */
export interface IngestedCall {
  prepared: PreparedCall;
  /** What the worker uploads before the call data: the kept upload, the `recordingPath`, or null. */
  recordingPath: string | null;
  /** Things the client should know that do not refuse the call (a recording not written yet, …). */
  warnings: string[];
}

/** `session` + `items[3].content` → `session.items[3].content`. */
function fieldPath(prefix: string, field: string | undefined): string {
  if (field === undefined || field === '') return prefix;
  return field.startsWith('[') ? `${prefix}${field}` : `${prefix}.${field}`;
}

/** The problems of an input error, under `prefix`; anything else is not the client's fault and rethrown. */
function problemsOf(err: unknown, prefix: string): RequestProblem[] {
  if (err instanceof InputProblemsError) return err.problems.map((p) => ({ field: fieldPath(prefix, p.field), code: p.code, message: p.message }));
  if (err instanceof CrmUploadError) {
    const field = typeof err.context.field === 'string' ? err.context.field : undefined;
    return [{ field: fieldPath(prefix, field), code: err.code, message: err.message }];
  }
  throw err;
}

/** The first non-empty string among the candidates (as the payload mapping picks ids). */
function firstText(...values: unknown[]): string | null {
  for (const v of values) if (typeof v === 'string' && v.trim() !== '') return v.trim();
  return null;
}

/** Collects the problems of one request. */
class Problems {
  readonly list: RequestProblem[] = [];

  add(field: string, message: string, code = E_SERVE_INVALID): void {
    this.list.push({ field, code, message });
  }

  /** The problems of an input error, under `prefix` (anything else is not the client's fault: rethrown). */
  addError(err: unknown, prefix: string): void {
    this.list.push(...problemsOf(err, prefix));
  }
}

type IdKey = (typeof ID_FIELDS)[number]['key'];

/** The request's own fields, read with every problem recorded. */
interface RequestFields {
  call: CallRecord | null;
  lead: LeadRecord | null;
  callerNumber: string | undefined;
  callId: string | undefined;
  ids: Partial<Record<IdKey, string>>;
  recordingPath: string | undefined;
}

/** Read the fields of a call object (everything but the recording's file). */
function readFields(body: Record<string, unknown>, config: Config, problems: Problems): RequestFields {
  const known = new Set<string>(CALL_FIELDS);
  // The commonest mistake: posting the session file itself. One clear problem says so, rather than one
  // per field of the session.
  const format = 'session' in body ? null : detectJsonFormat(body);
  if (format !== null && format !== 'lead' && format !== 'manifest') {
    problems.add('session', 'the body is a conversation itself: send it as {"session": <the conversation>, …}');
    return { call: null, lead: null, callerNumber: undefined, callId: undefined, ids: {}, recordingPath: undefined };
  }
  const unknown = Object.keys(body).filter((key) => !known.has(key));
  // Listed up to the answer's limit (a body of 100 000 made-up fields gets a short 400, not a long one).
  for (const key of unknown.slice(0, MAX_PROBLEMS)) {
    const shown = capText(key, MAX_FIELD_CHARS);
    problems.add(shown, `${shown} is not a field of a call (the fields are ${CALL_FIELDS.join(', ')})`);
  }
  /** An optional string field: trimmed, non-empty, at most `max` characters, no control characters. */
  const text = (key: (typeof CALL_FIELDS)[number], max: number): string | undefined => {
    const v = body[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      problems.add(key, `${key} must be a string, got ${describeValue(v)}`);
      return undefined;
    }
    const t = v.trim();
    if (t === '') return undefined;
    if (t.length > max) problems.add(key, `${key} is longer than ${max} characters`);
    else if (/[\u0000-\u001f\u007f]/.test(t)) problems.add(key, `${key} contains control characters`);
    else return t;
    return undefined;
  };

  let call: CallRecord | null = null;
  const session = body.session;
  if (session === undefined || session === null) {
    problems.add('session', 'session is missing: give the conversation (transcript-logger session, LiveKit history dict, Mongo export or legacy conversation)');
  } else if (!isObject(session)) {
    problems.add('session', `session must be a JSON object, got ${describeValue(session)}`);
  } else {
    try {
      call = callFromSession(session, config);
    } catch (err) {
      problems.addError(err, 'session');
    }
  }

  let lead: LeadRecord | null = null;
  if (body.lead !== undefined && body.lead !== null) {
    if (!isObject(body.lead)) problems.add('lead', `lead must be a JSON object, got ${describeValue(body.lead)}`);
    else {
      try {
        lead = readLead(body.lead, LEAD_NAME, { sourceTimezone: config.sourceTimezone });
      } catch (err) {
        problems.addError(err, 'lead');
      }
    }
  }

  const ids: Partial<Record<IdKey, string>> = {};
  for (const { key } of ID_FIELDS) {
    const v = text(key, 200);
    if (v !== undefined) ids[key] = v;
  }
  let callId = text('callId', 200);
  const idProblem = callId === undefined ? null : callIdProblem(callId);
  if (idProblem !== null) {
    problems.add('callId', `callId ${shownCallId(callId)} is invalid: ${idProblem}`, E_CALL_ID);
    callId = undefined;
  }
  return { call, lead, callerNumber: text('callerNumber', 64), callId, ids, recordingPath: text('recordingPath', 4096) };
}

/**
 * The checks of a call that need no recording (its fields, session, lead and callId), for a multipart
 * request before its recording is written: throws the same 400 `ingestCall` would.
 */
export function precheckCall(body: unknown, config: Config): void {
  if (!isObject(body)) {
    throw invalidRequest([{ field: '', code: E_SERVE_INVALID, message: `a call must be a JSON object, got ${describeValue(body)}` }]);
  }
  const problems = new Problems();
  readFields(body, config, problems);
  if (problems.list.length > 0) throw invalidRequest(problems.list);
}

/** The recording of a call: given by path (confined to the recordings folder) or uploaded with it. */
async function readRecordingInput(
  rawPath: string | undefined,
  upload: UploadedRecording | null,
  config: Config,
  problems: Problems,
  warnings: string[],
): Promise<{ facts: RecordingFacts | undefined; path: string | null }> {
  if (rawPath !== undefined && upload !== null) {
    problems.add('recordingPath', 'give either recordingPath or an uploaded recording file, not both');
    return { facts: undefined, path: null };
  }
  if (rawPath !== undefined) {
    const resolved = await resolveRecordingPath(rawPath, config.recordingsDir);
    if (!resolved.ok) {
      problems.list.push(resolved.problem);
      return { facts: undefined, path: null };
    }
    if (!resolved.exists) {
      warnings.push(`recordingPath ${rawPath}: no file there yet; the worker waits for it up to CRM_RECORDING_WAIT_MS, then sends the call without it`);
      return { facts: undefined, path: resolved.path };
    }
    try {
      return { facts: await readRecording(resolved.path), path: resolved.path };
    } catch (err) {
      if (isIncompleteAudio(err)) {
        // Egress is still writing it: no figures now (never a part's duration); the worker reads them once it is finished.
        warnings.push(`recordingPath ${rawPath}: still being written; the worker waits for it up to CRM_RECORDING_WAIT_MS, then sends the call without it`);
        return { facts: undefined, path: resolved.path };
      }
      problems.addError(err, 'recordingPath');
      return { facts: undefined, path: null };
    }
  }
  if (upload !== null) {
    try {
      const facts = await readRecording(upload.file.tempPath);
      // What the client's file name tells (egress: caller digits, start epoch), at the path it is kept at.
      return { facts: { ...facts, ...parseRecordingName(upload.file.name), file: upload.keptPath }, path: upload.keptPath };
    } catch (err) {
      problems.addError(err, 'recording');
    }
  }
  return { facts: undefined, path: null };
}

/**
 * Each id must come from somewhere: the request, the session's campaign metadata, the lead's, or the
 * server's configuration, in the order the payload mapping looks (`resolveIds`). Checked here so that
 * all three are named at once, with the field the client can set.
 */
function checkIds(call: CallRecord, lead: LeadRecord | null, ids: Partial<Record<IdKey, string>>, config: Config, problems: Problems): void {
  for (const { key, variable, setting } of ID_FIELDS) {
    if (firstText(ids[key], call.campaign?.[key], lead?.campaign?.[key], config[setting]) !== null) continue;
    problems.add(
      key,
      `${key} is missing: the request gives none, the session carries none (metadata.campaign_metadata.${key}), and ${variable} is not set on this server`,
      E_SERVE_MISSING_ID,
    );
  }
}

/**
 * Read, check, match and map one call of a request. Throws a 400 ServeRequestError listing every
 * problem found; a recording given by path is only read once the path is known to be inside the
 * recordings folder.
 */
export async function ingestCall(body: unknown, config: Config, upload: UploadedRecording | null = null): Promise<IngestedCall> {
  if (!isObject(body)) {
    throw invalidRequest([{ field: '', code: E_SERVE_INVALID, message: `a call must be a JSON object, got ${describeValue(body)}` }]);
  }
  const problems = new Problems();
  const warnings: string[] = [];
  const fields = readFields(body, config, problems);
  const recording = await readRecordingInput(fields.recordingPath, upload, config, problems, warnings);
  const { call, lead, ids } = fields;
  if (call !== null) checkIds(call, lead, ids, config, problems);
  if (problems.list.length > 0 || call === null) throw invalidRequest(problems.list);

  // The request's ids are the call's own: they win over the session's metadata and the configured ids.
  const own: CallRecord = Object.keys(ids).length > 0 ? { ...call, campaign: { ...(call.campaign ?? {}), ...ids } as CampaignMetadata } : call;
  // Matched as prepareSession matches a session: one call, the request's values explicit.
  const matched = matchRun({
    calls: [own],
    leads: [],
    recordings: [],
    manifests: [],
    explicit: {
      ...(lead ? { lead } : {}),
      ...(recording.facts ? { recording: recording.facts } : {}),
      ...(fields.callerNumber ? { callerPhone: fields.callerNumber } : {}),
      ...(fields.callId ? { callId: fields.callId } : {}),
    },
  });
  const bundle = matched.bundles[0];
  if (bundle === undefined) throw invalidRequest([{ field: 'session', code: E_SERVE_INVALID, message: 'no call was found in the session' }]);
  let payload;
  try {
    payload = buildPayload(bundle, config);
    assertValidPayload(payload, { callId: payload.callDetails.callId });
  } catch (err) {
    if (err instanceof PayloadValidationError) {
      const list = err.problems.map((p) => `${p.field} ${p.message}`).join('; ');
      throw invalidRequest([{ field: '', code: err.code, message: `the call's payload would not match the contract: ${list}` }]);
    }
    const found = new Problems();
    found.addError(err, 'session');
    if (call.format === 'livekit-history') {
      for (const p of found.list) {
        if (p.code === 'E_INPUT_TIME') p.message += ": a LiveKit history needs its items' times (Python: session.history.to_dict(exclude_timestamp=False)) or an egress recording";
      }
    }
    throw invalidRequest(found.list);
  }
  // A callId the session gave (not the request) meets the rule too: it is the outbox's key.
  const finalProblem = callIdProblem(payload.callDetails.callId);
  if (finalProblem !== null) {
    throw invalidRequest([{ field: 'session', code: E_CALL_ID, message: `the session gives callId ${shownCallId(payload.callDetails.callId)}, which is invalid: ${finalProblem}; give a callId` }]);
  }
  warnings.push(...matched.warnings.map((w) => w.message));
  const recordingPath = bundle.recording?.file ?? recording.path;
  return { prepared: { bundle, payload, recordingPath, warnings: matched.warnings }, recordingPath, warnings };
}
