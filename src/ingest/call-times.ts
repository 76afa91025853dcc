/**
 * The start and end of a call, from the best source a file offers (docs/architecture.md, formats 1, 2 and 4):
 * its own start/end, else its items' first and last times, else the time in its file name (the save
 * time: start = end, since the length is unknown), else the file's mtime.
 */
import type { CallRecord, ConversationItem, TimesSource } from './call-record.ts';
import { deriveSessionId } from './session-id.ts';
import type { ReadContext } from './read-context.ts';
import { fileNameTime } from './timestamps.ts';

/** A call's times and where they came from. */
export interface CallTimes {
  startTime: string | null;
  endTime: string | null;
  timesFrom: TimesSource | null;
}

/** Earliest and latest item time (ISO strings in UTC with `Z` compare as text). */
export function itemTimeRange(items: readonly ConversationItem[]): { first: string; last: string } | null {
  let first: string | null = null;
  let last: string | null = null;
  for (const item of items) {
    const t = item.timestamp;
    if (t === null) continue;
    if (first === null || t < first) first = t;
    if (last === null || t > last) last = t;
  }
  return first === null || last === null ? null : { first, last };
}

/**
 * Pick the call's times. `ownStart`/`ownEnd` are the file's own fields (null when absent); a missing
 * end falls back to the last item time, then to the start. `nameZone` is the zone of a naive time in
 * the file name (local for legacy names; transcript-logger names are UTC whatever it says).
 */
export function pickCallTimes(
  ownStart: string | null,
  ownEnd: string | null,
  items: readonly ConversationItem[],
  file: string,
  nameZone: string,
  ctx: ReadContext,
): CallTimes {
  if (ownStart !== null) {
    const range = ownEnd === null ? itemTimeRange(items) : null;
    const end = ownEnd ?? (range && range.last > ownStart ? range.last : ownStart);
    return { startTime: ownStart, endTime: end, timesFrom: 'session' };
  }
  const range = itemTimeRange(items);
  if (range) {
    // Only an end is known: the items still tell when the call started.
    const end = ownEnd !== null && ownEnd > range.last ? ownEnd : range.last;
    return { startTime: range.first, endTime: end, timesFrom: 'items' };
  }
  if (ownEnd !== null) return { startTime: ownEnd, endTime: ownEnd, timesFrom: 'session' };
  const named = fileNameTime(file, nameZone);
  if (named !== null) return { startTime: named, endTime: named, timesFrom: 'file_name' };
  if (ctx.mtimeMs !== undefined && Number.isFinite(ctx.mtimeMs)) {
    const t = new Date(Math.floor(ctx.mtimeMs)).toISOString();
    return { startTime: t, endTime: t, timesFrom: 'mtime' };
  }
  return { startTime: null, endTime: null, timesFrom: null };
}

/** The parts of a CallRecord every conversation reader fills the same way. */
export interface CallRecordParts {
  file: string;
  format: CallRecord['format'];
  /** The file's own session id, or null to derive one from the start time and the file name. */
  sessionId: string | null;
  times: CallTimes;
  out: { items: ConversationItem[]; toolCalls: CallRecord['toolCalls'] };
  campaign: CallRecord['campaign'];
  metadata: Record<string, unknown>;
}

/** Assemble a CallRecord; a missing session id is derived (docs/architecture.md, "Session ids"). */
export function callRecordOf(parts: CallRecordParts): CallRecord {
  return {
    file: parts.file,
    format: parts.format,
    sessionId: parts.sessionId ?? deriveSessionId(parts.times.startTime, parts.file),
    sessionIdDerived: parts.sessionId === null,
    startTime: parts.times.startTime,
    endTime: parts.times.endTime,
    timesFrom: parts.times.timesFrom,
    items: parts.out.items,
    toolCalls: parts.out.toolCalls,
    campaign: parts.campaign,
    callerNumber: null,
    metadata: parts.metadata,
  };
}
