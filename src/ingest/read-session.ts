/**
 * The session envelope shared by transcript-logger sessions (format 1) and their MongoDB exports
 * (format 3): `{session_id, start_time, end_time, items[], metadata}`. Only the items differ, so each
 * format passes its own item reader.
 */
import type { CallRecord, FormatName } from './call-record.ts';
import { callRecordOf, pickCallTimes } from './call-times.ts';
import type { ItemsOut } from './conversation-items.ts';
import { E_INPUT_FIELD, E_INPUT_TIME, isObject, optObject, optString, optTime, readCampaign } from './fields.ts';
import { ProblemList } from './problems.ts';
import type { ReadContext } from './read-context.ts';
import { describeValue } from './timestamps.ts';

/** Reads the `items` value of a session into `out`, recording problems. */
export type SessionItemsReader = (items: unknown, out: ItemsOut, problems: ProblemList) => void;

/**
 * Read a session object. Naive `start_time`/`end_time` are UTC: the logger writes them from the same
 * UTC clock as its `Z` item times (docs/architecture.md, "Time" → "Which zone a naive time is in"). Throws
 * InputProblemsError listing every problem.
 */
export function readSession(doc: unknown, file: string, ctx: ReadContext, format: FormatName, readItems: SessionItemsReader): CallRecord {
  const problems = new ProblemList(file, format);
  if (!isObject(doc)) {
    return problems.fail(E_INPUT_FIELD, '', `a session must be a JSON object, got ${describeValue(doc)}`);
  }
  const ownId = optString(doc, 'session_id', 'session_id', problems);
  const ownStart = optTime(doc.start_time, 'UTC', 'start_time', problems);
  const ownEnd = optTime(doc.end_time, 'UTC', 'end_time', problems);
  if (ownStart !== null && ownEnd !== null && ownEnd < ownStart) {
    problems.add(E_INPUT_TIME, 'end_time', `end_time ${ownEnd} is before start_time ${ownStart}`);
  }
  if (doc.items === undefined || doc.items === null) {
    problems.add(E_INPUT_FIELD, 'items', 'items is missing: a session needs a list of items');
  }
  const out: ItemsOut = { items: [], toolCalls: [] };
  readItems(doc.items, out, problems);
  const metadata = optObject(doc, 'metadata', 'metadata', problems) ?? {};
  const campaign =
    readCampaign(metadata.campaign_metadata, 'metadata.campaign_metadata', problems) ??
    readCampaign(doc.campaign_metadata, 'campaign_metadata', problems);
  problems.throwIfAny();

  const times = pickCallTimes(ownStart, ownEnd, out.items, file, 'UTC', ctx);
  const sessionId = ownId !== undefined && ownId.trim() !== '' ? ownId : null;
  return callRecordOf({ file, format, sessionId, times, out, campaign, metadata });
}
