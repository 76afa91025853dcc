/**
 * The recording step of one delivery (docs/architecture.md, "Delivery" → "Recording step"): wait until egress has
 * finished writing the file, upload it once, and say what the call-data POST should carry.
 */
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { classifyOutcome, type Outcome } from '../crm/classify-outcome.ts';
import type { CrmClient, CrmResult } from '../crm/crm-client.ts';
import { idempotencyKey } from '../crm/idempotency.ts';
import { isIncompleteAudio } from '../ingest/audio.ts';
import type { Pacer } from '../pacing/pacer.ts';

/** Audio figures from the file itself. */
export interface AudioFigures {
  size: number;
  durationSec: number | null;
}

/** What the step decided. */
export type RecordingStepResult =
  /** Uploaded: the URL and figures go into callDetails. */
  | { kind: 'uploaded'; url: string; size: number; duration: number | null; result: CrmResult }
  /** Send the call without `recordingUrl`, for the reason in `note` (not ready in time, or refused for good). */
  | { kind: 'skip'; note: string; size: number | null; result: CrmResult | null }
  /** The file is still being written and the wait budget is not spent: try the whole item again later. */
  | { kind: 'not-ready'; note: string }
  /** The upload failed transiently: the whole item is retried (the call data is not sent without it). */
  | { kind: 'failed'; outcome: Extract<Outcome, { kind: 'retry' | 'wait' }>; result: CrmResult };

/** Inputs of `runRecordingStep`. */
export interface RecordingStepOptions {
  callId: string;
  path: string;
  client: CrmClient;
  pacer: Pacer;
  /** Epoch ms after which a file that is missing or still growing is given up on. */
  waitUntil: number;
  /** Epoch ms after which this attempt must stop waiting (its lease runs out); the item is tried again. */
  attemptDeadline: number;
  /** Two equal sizes this far apart mean egress has finished. */
  stableMs: number;
  signal?: AbortSignal;
  /** Reads size and duration from the audio; absent when no prober is available. */
  probe?: (path: string) => Promise<AudioFigures>;
  now?: () => number;
}

/** The poll interval for a recording wait: ~250 ms, or a twentieth of the wait when that is shorter. */
export function stablePollMs(recordingWaitMs: number): number {
  return Math.max(1, Math.min(250, Math.floor(recordingWaitMs / 20)));
}

/** Size of the file, or null when it is not there (yet). */
async function sizeOf(path: string): Promise<number | null> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : null;
  } catch {
    return null;
  }
}

/**
 * Wait until the file exists and two sizes `stableMs` apart are equal. Returns the size, or a reason
 * with `gaveUp` telling whether the overall wait is spent (true) or only this attempt's share (false).
 */
export async function waitForStableFile(
  options: Pick<RecordingStepOptions, 'path' | 'waitUntil' | 'attemptDeadline' | 'stableMs' | 'signal' | 'now'>,
): Promise<{ size: number } | { reason: string; gaveUp: boolean }> {
  const now = options.now ?? Date.now;
  const deadline = Math.min(options.waitUntil, options.attemptDeadline);
  let previous = await sizeOf(options.path);
  // A file already there gets one look a poll apart even when the wait is spent: a worker that was down
  // (or crashed) longer than CRM_RECORDING_WAIT_MS must not send the call of a finished recording without it.
  let looked = previous === null;
  for (;;) {
    if (looked && now() + options.stableMs > deadline) {
      const reason = previous === null ? 'recording file not found' : 'recording file still growing';
      return { reason, gaveUp: deadline >= options.waitUntil };
    }
    looked = true;
    await sleep(options.stableMs, undefined, { signal: options.signal });
    const current = await sizeOf(options.path);
    if (current !== null && current === previous) return { size: current };
    previous = current;
  }
}

/**
 * Wait until the file is stable and, when a prober is given, finished: an Ogg stream without its end-of-stream
 * page (or a WAV whose data size is not written) is still being written even when its size holds still, since
 * egress can pause. Such a file is waited for like a growing one and never read for a duration: its figures are
 * read here, once it is complete, before the upload. A file whose duration cannot be read for another reason
 * is sent without a duration: the duration is a nicety that must not hold back the call.
 */
export async function waitForCompleteFile(
  options: Pick<RecordingStepOptions, 'path' | 'waitUntil' | 'attemptDeadline' | 'stableMs' | 'signal' | 'now' | 'probe'>,
): Promise<{ size: number; figures: AudioFigures | null } | { reason: string; gaveUp: boolean }> {
  const now = options.now ?? Date.now;
  const deadline = Math.min(options.waitUntil, options.attemptDeadline);
  for (;;) {
    const stable = await waitForStableFile(options);
    if ('reason' in stable) return stable;
    if (!options.probe) return { size: stable.size, figures: null };
    try {
      return { size: stable.size, figures: await options.probe(options.path) };
    } catch (err) {
      if (!isIncompleteAudio(err)) return { size: stable.size, figures: null };
      if (now() + options.stableMs > deadline) {
        return { reason: `recording file not finished (${(err as Error).message})`, gaveUp: deadline >= options.waitUntil };
      }
      // Not finished: look again. waitForStableFile sleeps stableMs before it answers, so this never spins.
    }
  }
}

/** Upload the recording once it is complete, and classify the answer. */
export async function runRecordingStep(options: RecordingStepOptions): Promise<RecordingStepResult> {
  const stable = await waitForCompleteFile(options);
  if ('reason' in stable) {
    if (!stable.gaveUp) return { kind: 'not-ready', note: stable.reason };
    return { kind: 'skip', note: `${stable.reason} within CRM_RECORDING_WAIT_MS; sent without recording`, size: null, result: null };
  }

  await options.pacer.acquire(options.signal);
  const result = await options.client.uploadRecording(options.path, {
    idempotencyKey: idempotencyKey(options.callId, 'recording'),
    signal: options.signal,
  });
  const outcome = classifyOutcome(result, { needsAnswer: true });
  if (outcome.kind === 'retry' || outcome.kind === 'wait') return { kind: 'failed', outcome, result };
  if (outcome.kind === 'dead') {
    return { kind: 'skip', note: `recording upload rejected: ${outcome.reason}; sent without recording`, size: stable.size, result };
  }
  const url = uploadedUrl(result);
  if (url === null) {
    // A 2xx without a URL cannot be linked from the call; sending again would not change the answer.
    return { kind: 'skip', note: 'recording upload answered without data.url; sent without recording', size: stable.size, result };
  }
  // The figures of the complete file that was uploaded, read before the upload (waitForCompleteFile).
  return { kind: 'uploaded', url, size: stable.figures?.size ?? stable.size, duration: stable.figures?.durationSec ?? null, result };
}

/** `data.url` of an upload answer, or null. */
export function uploadedUrl(result: CrmResult): string | null {
  if (result.kind !== 'response') return null;
  const body = result.body as { data?: { url?: unknown } } | null;
  const url = body?.data?.url;
  return typeof url === 'string' && url !== '' ? url : null;
}
