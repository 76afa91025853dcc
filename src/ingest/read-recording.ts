/**
 * Format 6: a recording. LiveKit egress names it `number-_<digits of the caller number>-<epoch s>.ogg`
 * (the epoch is when egress started, about the call's start); size and duration come from the file.
 */
import type { RecordingFacts } from './call-record.ts';
import { probeAudio } from './audio.ts';
import { baseName } from './timestamps.ts';

const EGRESS_NAME_RE = /^number-_?\+?(\d*)-(\d{9,13})(?:\.[A-Za-z0-9]+)?$/;

/** The caller digits and start epoch (seconds) an egress file name carries; nulls for other names. */
export function parseRecordingName(name: string): { number: string | null; epoch: number | null } {
  const m = EGRESS_NAME_RE.exec(baseName(name));
  if (!m) return { number: null, epoch: null };
  const epochValue = Number(m[2]);
  // A 13-digit epoch is milliseconds (some egress configurations); the facts are in seconds.
  const epoch = epochValue > 1e12 ? Math.floor(epochValue / 1000) : epochValue;
  return { number: m[1] ? m[1] : null, epoch };
}

/** Read a recording's facts. Throws InputProblemsError (`E_INPUT_AUDIO`) for an empty or non-audio file. */
export async function readRecording(path: string): Promise<RecordingFacts> {
  const { number, epoch } = parseRecordingName(path);
  const { size, durationSec } = await probeAudio(path);
  return { file: path, number, epoch, size, durationSec };
}
