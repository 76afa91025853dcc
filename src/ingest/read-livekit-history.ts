/**
 * Format 2: a LiveKit Agents `session.history.to_dict()` dump, `{items:[…]}`, with no session id and
 * (usually) no times. Times come from the items when they carry `created_at`, else from the file
 * name (the save time, UTC: start = end since the length is unknown), else from the mtime; the
 * session id is derived (docs/architecture.md "Session ids").
 */
import type { CallRecord } from './call-record.ts';
import { callRecordOf, pickCallTimes } from './call-times.ts';
import { readItems, type ItemOptions, type ItemsOut } from './conversation-items.ts';
import { E_INPUT_FIELD, isObject, optObject, readCampaign } from './fields.ts';
import { ProblemList } from './problems.ts';
import type { ReadContext } from './read-context.ts';
import { describeValue } from './timestamps.ts';

/** Every item of a LiveKit history came through LiveKit. */
const ITEM_OPTIONS: ItemOptions = { zone: 'UTC', defaultSource: 'livekit', chatSource: 'livekit' };

/** Read a parsed LiveKit history dump. Throws InputProblemsError listing every problem. */
export function readLivekitHistory(doc: unknown, file: string, ctx: ReadContext): CallRecord {
  const problems = new ProblemList(file, 'livekit-history');
  if (!isObject(doc)) return problems.fail(E_INPUT_FIELD, '', `a LiveKit history must be a JSON object, got ${describeValue(doc)}`);
  if (doc.items === undefined || doc.items === null) {
    problems.add(E_INPUT_FIELD, 'items', 'items is missing: a LiveKit history needs a list of items');
  }
  const out: ItemsOut = { items: [], toolCalls: [] };
  readItems(doc.items, 'items', ITEM_OPTIONS, problems, out);
  const metadata = optObject(doc, 'metadata', 'metadata', problems) ?? {};
  const campaign = readCampaign(metadata.campaign_metadata, 'metadata.campaign_metadata', problems);
  problems.throwIfAny();
  const times = pickCallTimes(null, null, out.items, file, 'UTC', ctx);
  return callRecordOf({ file, format: 'livekit-history', sessionId: null, times, out, campaign, metadata });
}
