/**
 * Recording facts read from the audio itself (docs/architecture.md format 6): the byte size and the duration in
 * whole seconds, which the payload sends as `recordingSize` and `recordingDuration`.
 */
import { open, stat } from 'node:fs/promises';
import { parseFile } from 'music-metadata';
import { AUDIO_HEAD_BYTES, sniffAudio } from './detect-format.ts';
import { inputProblem } from './problems.ts';

/** Code of a recording that is empty or not audio. */
export const E_INPUT_AUDIO = 'E_INPUT_AUDIO';

/** Size and duration of a recording. */
export interface AudioFacts {
  size: number;
  /** Whole seconds, rounded to the nearest. */
  durationSec: number;
}

/** The first bytes of a file (fewer when it is shorter). */
export async function readHead(path: string, bytes = AUDIO_HEAD_BYTES): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Size and duration of an audio file. A 0-byte file, content that is not audio, or audio whose
 * duration cannot be read is an InputError (`E_INPUT_AUDIO`) naming the file: music-metadata returns
 * no duration rather than failing for many non-audio files, so the magic bytes are checked first and
 * the duration after.
 */
export async function probeAudio(path: string): Promise<AudioFacts> {
  const info = await stat(path);
  if (info.size === 0) throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', 'the recording is empty (0 bytes)');
  const head = await readHead(path);
  if (sniffAudio(head) === null) {
    throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', 'the content is not audio (no Ogg, WAV, MP3, FLAC, MP4 or WebM header)');
  }
  let duration: number | undefined;
  try {
    duration = (await parseFile(path, { skipCovers: true })).format.duration;
  } catch (err) {
    throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', `the audio cannot be read: ${(err as Error).message}`);
  }
  // A truncated Ogg stream yields a negative duration from its granule positions.
  if (duration === undefined || !Number.isFinite(duration) || duration < 0) {
    throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', 'the audio has no readable duration (truncated or still being written?)');
  }
  return { size: info.size, durationSec: Math.round(duration) };
}
