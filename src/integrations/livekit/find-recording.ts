/**
 * The recording of a call that ends: the one the agent's code names, else the session's own
 * (`session.start({ record })` writes `<ctx.sessionDirectory>/audio.ogg`), else a LiveKit egress file
 * in `CRM_RECORDINGS_DIR` found by the recording rule of docs/architecture.md (`number-_<digits>-<epoch>.ogg`,
 * epoch within 2 min of the call's start) through the matcher `bulk` uses.
 *
 * Nothing here reads audio: the file's size and duration are read by the worker when it uploads it,
 * so finalising a call costs the same whatever the recording's length. A file not there yet (egress
 * still writing) is fine too: the worker waits for it up to `CRM_RECORDING_WAIT_MS`.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CallRecord, RecordingFacts } from '../../ingest/call-record.ts';
import { hasAudioExtension } from '../../ingest/detect-format.ts';
import { phoneKey } from '../../ingest/phone.ts';
import { parseRecordingName } from '../../ingest/read-recording.ts';
import type { Logger } from '../../log/logger.ts';
import { matchRecordings, RECORDING_TOLERANCE_MS } from '../../match/match-recordings.ts';

/** Name of the session's own recording in `ctx.sessionDirectory` (`@livekit/agents` 1.9, AgentSession.start). */
export const AGENT_RECORDING_NAME = 'audio.ogg';

/** The call as recording matching sees it. */
export interface RecordingQuery {
  /** UTC ISO. */
  startTime: string;
  endTime: string;
  /** The caller's number, when the call's own data gives one. */
  callerNumber: string | null;
  /** The session file (for warnings). */
  file: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The egress recording of a call in `dir` (its top level: egress writes flat), or null. A live call
 * is the only call this process knows, so a time window alone cannot rule out a call of another
 * process that started in the same minutes: an egress file is taken only when its number agrees with
 * the caller's. Two such files in the window are ambiguous: none is taken, and a warning says why.
 */
export async function findEgressRecording(dir: string, query: RecordingQuery, logger: Logger): Promise<string | null> {
  const callerKey = phoneKey(query.callerNumber);
  if (callerKey === '') return null;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return null;
  }
  const startMs = Date.parse(query.startTime);
  const recordings: RecordingFacts[] = [];
  for (const name of names) {
    if (!hasAudioExtension(name)) continue;
    const { number, epoch } = parseRecordingName(name);
    // Cheap prefilter; the matcher below decides.
    if (epoch === null || Math.abs(epoch * 1000 - startMs) > RECORDING_TOLERANCE_MS) continue;
    if (phoneKey(number) !== callerKey) continue;
    recordings.push({ file: join(dir, name), number, epoch, size: 0, durationSec: null });
  }
  if (recordings.length === 0) return null;
  const call: CallRecord = {
    file: query.file,
    format: 'transcript-logger',
    sessionId: '',
    sessionIdDerived: false,
    startTime: query.startTime,
    endTime: query.endTime,
    timesFrom: 'session',
    items: [],
    toolCalls: [],
    campaign: null,
    callerNumber: query.callerNumber,
    metadata: {},
  };
  const { assignment, warnings } = matchRecordings({
    calls: [call],
    knownNumbers: [query.callerNumber],
    recordings,
    explicit: new Map(),
    closed: new Set(),
  });
  for (const w of warnings) logger.warn({ code: w.code, files: w.files }, w.message);
  const picked = assignment.subjectOf[0] ?? -1;
  return picked >= 0 ? (recordings[picked]?.file ?? null) : null;
}

/** Where the recording may come from, strongest first. */
export interface RecordingSources {
  /** Named by the agent's code (relative paths resolve against `cwd`). */
  explicit: string | null;
  /** The session's recorder's `outputPath`, when it ran. */
  agentRecording: string | null;
  /** `ctx.sessionDirectory`, where the recorder writes `audio.ogg`. */
  sessionDirectory: string | null;
  /** `CRM_RECORDINGS_DIR`. */
  recordingsDir: string | null;
  cwd: string;
}

/** The recording of the call, or null. */
export async function chooseRecording(sources: RecordingSources, query: RecordingQuery, logger: Logger): Promise<string | null> {
  if (sources.explicit !== null) return resolve(sources.cwd, sources.explicit);
  if (sources.agentRecording !== null) return resolve(sources.cwd, sources.agentRecording);
  if (sources.sessionDirectory !== null) {
    const own = join(sources.sessionDirectory, AGENT_RECORDING_NAME);
    if (await isFile(own)) return own;
  }
  if (sources.recordingsDir !== null) return findEgressRecording(sources.recordingsDir, query, logger);
  return null;
}
