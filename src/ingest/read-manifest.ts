/**
 * Format 7: a call manifest (`call_metadata/metadata_session_*.json`) naming a call's recording,
 * conversation and lead by absolute paths on the agent's machine, with the call's times (written
 * `2025-10-29T13:50:57.987953+00:00Z`). The reader keeps the paths as written; `resolveManifestFiles`
 * (resolve-path.ts) finds them by base name inside the configured folders.
 */
import type { ManifestRecord } from './call-record.ts';
import { E_INPUT_FIELD, E_INPUT_TIME, isObject, optObject, optString, optTime, readCampaign } from './fields.ts';
import { ProblemList } from './problems.ts';
import type { ReadContext } from './read-context.ts';
import { describeValue } from './timestamps.ts';

const FILE_KEYS = ['recording', 'conversation', 'lead'] as const;

/**
 * Read a parsed manifest; `files` are all null until resolved. Naive manifest times are UTC: the
 * manifest writer stamps them from the same UTC clock as the session it describes.
 * Throws InputProblemsError listing every problem.
 */
export function readManifest(doc: unknown, file: string, _ctx: ReadContext): ManifestRecord {
  const problems = new ProblemList(file, 'manifest');
  if (!isObject(doc)) return problems.fail(E_INPUT_FIELD, '', `a manifest must be a JSON object, got ${describeValue(doc)}`);
  const sessionId = optString(doc, 'session_id', 'session_id', problems);
  let dialed: string | undefined;
  if (typeof doc.dialed_number === 'number' && Number.isInteger(doc.dialed_number)) dialed = doc.dialed_number.toFixed(0);
  else dialed = optString(doc, 'dialed_number', 'dialed_number', problems);
  const campaign = readCampaign(doc.campaign_metadata, 'campaign_metadata', problems);

  const rawFiles: NonNullable<ManifestRecord['rawFiles']> = { recording: null, conversation: null, lead: null };
  const files = optObject(doc, 'files', 'files', problems);
  if (files) {
    for (const key of FILE_KEYS) {
      const v = optString(files, key, `files.${key}`, problems);
      rawFiles[key] = v === undefined || v.trim() === '' ? null : v;
    }
  }
  const timestamps = optObject(doc, 'timestamps', 'timestamps', problems) ?? {};
  const startTime = optTime(timestamps.call_start, 'UTC', 'timestamps.call_start', problems);
  const endTime = optTime(timestamps.call_end, 'UTC', 'timestamps.call_end', problems);
  if (startTime !== null && endTime !== null && endTime < startTime) {
    problems.add(E_INPUT_TIME, 'timestamps.call_end', `timestamps.call_end ${endTime} is before timestamps.call_start ${startTime}`);
  }
  problems.throwIfAny();
  return {
    file,
    sessionId: sessionId !== undefined && sessionId !== '' ? sessionId : null,
    dialedNumber: dialed !== undefined && dialed.trim() !== '' ? dialed : null,
    campaign,
    files: { recording: null, conversation: null, lead: null },
    rawFiles,
    startTime,
    endTime,
  };
}
