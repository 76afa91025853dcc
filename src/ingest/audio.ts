/**
 * Recording facts read from the audio itself (docs/architecture.md format 6): the byte size and the duration in
 * whole seconds, which the payload sends as `recordingSize` and `recordingDuration`.
 */
import { open, stat } from 'node:fs/promises';
import { AUDIO_HEAD_BYTES, sniffAudio } from './detect-format.ts';
import { MAX_OGG_PAGE_BYTES, oggDuration } from './ogg-duration.ts';
import { InputProblemsError, inputProblem } from './problems.ts';
import { WAV_HEAD_BYTES, wavDuration } from './wav-duration.ts';

/** Code of a recording that is empty or not audio. */
export const E_INPUT_AUDIO = 'E_INPUT_AUDIO';

/** Code of a recording that is not finished yet (egress still writing): wait for it, never read a part. */
export const E_INPUT_AUDIO_INCOMPLETE = 'E_INPUT_AUDIO_INCOMPLETE';

/** Size and duration of a recording. */
export interface AudioFacts {
  size: number;
  /** Whole seconds, rounded to the nearest. */
  durationSec: number;
}

/** The first bytes of a file (fewer when it is shorter). */
export async function readHead(path: string, bytes = AUDIO_HEAD_BYTES): Promise<Uint8Array> {
  return readAt(path, 0, bytes);
}

/**
 * Size and duration of an audio file. A 0-byte file, content that is not audio, or audio whose
 * duration cannot be read is an InputError (`E_INPUT_AUDIO`) naming the file; a recording that is not
 * finished yet (an Ogg stream without its end-of-stream page, a WAV whose data size is a placeholder or runs
 * past the end) is one with `E_INPUT_AUDIO_INCOMPLETE`, so that no duration is ever read from a part of it.
 * The magic bytes are checked first: music-metadata returns no duration rather than failing for many
 * non-audio files. Ogg Opus/Vorbis and WAV are read from their own headers and last page (ogg-duration.ts,
 * wav-duration.ts); other containers by music-metadata.
 */
export async function probeAudio(path: string): Promise<AudioFacts> {
  const info = await stat(path);
  if (info.size === 0) throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', 'the recording is empty (0 bytes)');
  const head = await readHead(path);
  const container = sniffAudio(head);
  if (container === null) {
    throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', 'the content is not audio (no Ogg, WAV, MP3, FLAC, MP4 or WebM header)');
  }
  let seconds: number | null = null;
  if (container === 'ogg') seconds = await oggSeconds(path, info.size);
  if (container === 'wav') seconds = await wavSeconds(path, info.size);
  if (seconds === null) seconds = await generalSeconds(path);
  return { size: info.size, durationSec: Math.round(seconds) };
}

/** Whether an error says the recording is still being written (worth waiting for), not unreadable. */
export function isIncompleteAudio(err: unknown): boolean {
  return err instanceof InputProblemsError && err.code === E_INPUT_AUDIO_INCOMPLETE;
}

/** Bytes at `position` (fewer at the end of the file). */
async function readAt(path: string, position: number, bytes: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, position);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Seconds of an Ogg Opus/Vorbis stream from its first and last pages; null for another codec. */
async function oggSeconds(path: string, size: number): Promise<number | null> {
  const head = await readAt(path, 0, Math.min(size, MAX_OGG_PAGE_BYTES));
  const tailBytes = Math.min(size, 2 * MAX_OGG_PAGE_BYTES);
  const tail = await readAt(path, size - tailBytes, tailBytes);
  const result = oggDuration(head, tail);
  if (result.kind === 'complete') return result.seconds;
  if (result.kind === 'other-codec') return null;
  throw inputProblem(path, 'recording', result.kind === 'incomplete' ? E_INPUT_AUDIO_INCOMPLETE : E_INPUT_AUDIO, '', `the audio has no readable duration: ${result.reason}`);
}

/** Seconds of a WAV file from its header. */
async function wavSeconds(path: string, size: number): Promise<number> {
  const result = wavDuration(await readAt(path, 0, Math.min(size, WAV_HEAD_BYTES)), size);
  if (result.kind === 'complete') return result.seconds;
  throw inputProblem(path, 'recording', result.kind === 'incomplete' ? E_INPUT_AUDIO_INCOMPLETE : E_INPUT_AUDIO, '', `the audio has no readable duration: ${result.reason}`);
}

/** Seconds of another container, as music-metadata reads them (scanning the whole file when it must). */
async function generalSeconds(path: string): Promise<number> {
  let duration: number | undefined;
  try {
    // Loaded on first use: the recordings egress writes are Ogg and WAV, read without it, and the
    // library and its parsers cost every process that reads a recording a few MB (issue 16).
    const { parseFile } = await import('music-metadata');
    duration = (await parseFile(path, { skipCovers: true, duration: true })).format.duration;
  } catch (err) {
    throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', `the audio cannot be read: ${(err as Error).message}`);
  }
  if (duration === undefined || !Number.isFinite(duration) || duration < 0) {
    throw inputProblem(path, 'recording', E_INPUT_AUDIO, '', 'the audio has no readable duration (truncated or still being written?)');
  }
  return duration;
}
