/**
 * A call's place in time as matching sees it: its span, and whether its start is really known.
 */
import type { CallRecord } from '../ingest/call-record.ts';

/** Parse a UTC ISO time to milliseconds, or null when absent or unparseable. */
export function timeMs(iso: string | null | undefined): number | null {
  if (iso === null || iso === undefined) return null;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}

/** A call's [start, end] in milliseconds; a call knowing only one end is a point; null when timeless. */
export function callSpan(call: CallRecord): { from: number; to: number } | null {
  const start = timeMs(call.startTime);
  const end = timeMs(call.endTime);
  const from = start ?? end;
  const to = end ?? start;
  if (from === null || to === null) return null;
  return { from, to: Math.max(from, to) };
}

/**
 * True when the call's start is not really known: a LiveKit history without manifest is timed by its
 * file name or mtime, which is when the file was saved, about the call's end (docs/architecture.md format 2).
 */
export function startUnknown(call: CallRecord): boolean {
  return call.startTime === null || call.timesFrom === 'file_name' || call.timesFrom === 'mtime';
}
