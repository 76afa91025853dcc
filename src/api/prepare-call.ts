/**
 * One call from files the user names (`send`, `uploadFromTranscriptFile`): read them, resolve a
 * manifest inside the configured folders, match with the explicit values winning, build the payload
 * and check it against the contract. No network, no outbox: the same input always gives the same result.
 */
import { dirname, resolve } from 'node:path';
import type { Config } from '../config/config.ts';
import { InputError } from '../errors.ts';
import type { CallBundle, CallRecord, LeadRecord, ManifestRecord, RecordingFacts } from '../ingest/call-record.ts';
import { readInputFile, readInputText, type IngestResult } from '../ingest/read-file.ts';
import { FolderResolver, resolveManifestFiles } from '../ingest/resolve-path.ts';
import { matchRun, type MatchResult } from '../match/match-run.ts';
import { buildPayload } from '../payload/build-payload.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { assertValidPayload } from '../payload/validate-payload.ts';
import { assertValidCallId } from '../payload/call-id-rules.ts';

/** The files and values that make one call. `transcript` may be left out when `manifest` names it. */
export interface CallFiles {
  transcript?: string;
  /**
   * The content of `transcript` when that file is not on disk yet (TranscriptLogger writes it after the
   * enqueue): read from here, as the file will hold it.
   */
  transcriptText?: string;
  lead?: string;
  recording?: string;
  manifest?: string;
  callerPhone?: string;
  callId?: string;
}

/** A call ready to enqueue. */
export interface PreparedCall {
  bundle: CallBundle;
  /** Contract-valid; carries the recording's size and duration but no URL (the upload gives it). */
  payload: CallPayload;
  /** The recording to upload before the call data, or null. */
  recordingPath: string | null;
  warnings: MatchResult['warnings'];
}

type ConfigPart = Pick<
  Config,
  'sourceTimezone' | 'defaultRegion' | 'campaignId' | 'voiceAgentId' | 'clientId' | 'defaultCallerPhone' | 'conversationsDir' | 'leadsDir' | 'recordingsDir' | 'manifestsDir'
>;

/** Read one file and insist on its kind; the error names the file and what it is instead. */
async function readAs<K extends IngestResult['kind']>(path: string, kind: K, config: ConfigPart): Promise<Extract<IngestResult, { kind: K }>> {
  const result = await readInputFile(resolve(path), { sourceTimezone: config.sourceTimezone, defaultRegion: config.defaultRegion });
  if (result.kind !== kind) {
    const what = result.kind === 'skipped' ? `skipped: ${result.reason}` : `a ${result.format} file`;
    throw new InputError(`expected a ${kind === 'call' ? 'conversation' : kind} file, got ${what}`, { code: 'E_INPUT_KIND', file: resolve(path) });
  }
  return result as Extract<IngestResult, { kind: K }>;
}

/** A conversation given as the text its file will hold; the error names the file, as `readAs` does. */
function readCallText(path: string, text: string, config: ConfigPart): CallRecord {
  const result = readInputText(path, text, { sourceTimezone: config.sourceTimezone, defaultRegion: config.defaultRegion, mtimeMs: Date.now() });
  if (result.kind !== 'call') {
    const what = result.kind === 'skipped' ? `skipped: ${result.reason}` : `a ${result.format} file`;
    throw new InputError(`expected a conversation file, got ${what}`, { code: 'E_INPUT_KIND', file: resolve(path) });
  }
  return result.call;
}

/**
 * The folders a manifest's paths may resolve in: the configured ones, else the manifest's data root
 * (the folder above its own, where `conversations/` and `recordings/` sit beside `call_metadata/`).
 */
export function manifestFolders(config: ConfigPart, manifestPath: string): string[] {
  const configured = [config.conversationsDir, config.recordingsDir, config.leadsDir, config.manifestsDir].filter((d): d is string => !!d);
  return configured.length > 0 ? configured : [dirname(dirname(resolve(manifestPath)))];
}

/** Read, match, map and validate one call. */
export async function prepareCall(files: CallFiles, config: ConfigPart): Promise<PreparedCall> {
  // A callId given by the caller meets the rule of every door (InvalidCallIdError, E_CALL_ID).
  if (files.callId) assertValidCallId(files.callId, 'callId');
  let manifest: ManifestRecord | null = null;
  if (files.manifest) {
    const read = await readAs(files.manifest, 'manifest', config);
    const resolved = await resolveManifestFiles(read.manifest, new FolderResolver(manifestFolders(config, files.manifest)));
    const problem = resolved.problems[0];
    if (problem) throw new InputError(problem.message, { code: problem.code, file: read.manifest.file, field: problem.field });
    manifest = resolved.manifest;
  }
  const transcript = files.transcript ?? manifest?.files.conversation ?? null;
  if (transcript === null) throw new InputError('no conversation: give a transcript file or a manifest that names one', { code: 'E_USAGE' });
  const call: CallRecord =
    files.transcriptText !== undefined && transcript === files.transcript ? readCallText(transcript, files.transcriptText, config) : (await readAs(transcript, 'call', config)).call;
  if (manifest && manifest.files.conversation !== null && manifest.files.conversation !== call.file) {
    // The user named both: the manifest then describes this conversation.
    manifest = { ...manifest, files: { ...manifest.files, conversation: call.file } };
  }
  const lead: LeadRecord | undefined = files.lead
    ? (await readAs(files.lead, 'lead', config)).lead
    : manifest?.files.lead
      ? (await readAs(manifest.files.lead, 'lead', config)).lead
      : undefined;
  const recording: RecordingFacts | undefined = files.recording ? (await readAs(files.recording, 'recording', config)).recording : undefined;
  const manifestRecording = !recording && manifest?.files.recording ? (await readAs(manifest.files.recording, 'recording', config)).recording : undefined;

  const matched = matchRun({
    calls: [call],
    leads: lead ? [lead] : [],
    recordings: manifestRecording ? [manifestRecording] : [],
    manifests: manifest ? [manifest] : [],
    explicit: {
      ...(lead ? { lead } : {}),
      ...(recording ? { recording } : {}),
      ...(files.callerPhone ? { callerPhone: files.callerPhone } : {}),
      ...(files.callId ? { callId: files.callId } : {}),
    },
  });
  const matchError = matched.errors[0];
  if (matchError) throw new InputError(matchError.reason, { code: 'E_MATCH', file: matchError.file });
  const bundle = matched.bundles[0];
  if (!bundle) throw new InputError('no call was found in the input', { code: 'E_MATCH', file: call.file });
  const payload = buildPayload(bundle, config);
  assertValidPayload(payload, { file: call.file, callId: payload.callDetails.callId });
  return { bundle, payload, recordingPath: bundle.recording?.file ?? null, warnings: matched.warnings };
}
