/**
 * Format 1: a transcript-logger session, `{session_id, start_time, end_time, items[], …, metadata}`,
 * whose items are flat events or LiveKit chat items (both shapes may occur in one file).
 */
import type { CallRecord } from './call-record.ts';
import { readItems, type ItemOptions } from './conversation-items.ts';
import type { ReadContext } from './read-context.ts';
import { readSession } from './read-session.ts';

/**
 * Item times without a zone are UTC (same clock as the session times). A flat event without a
 * source gets `""` (nothing says where it came from); a LiveKit chat item gets `livekit`.
 */
const ITEM_OPTIONS: ItemOptions = { zone: 'UTC', defaultSource: '', chatSource: 'livekit' };

/** Read a parsed transcript-logger session. Throws InputProblemsError listing every problem. */
export function readTranscriptLogger(doc: unknown, file: string, ctx: ReadContext): CallRecord {
  return readSession(doc, file, ctx, 'transcript-logger', (items, out, problems) =>
    readItems(items, 'items', ITEM_OPTIONS, problems, out),
  );
}
