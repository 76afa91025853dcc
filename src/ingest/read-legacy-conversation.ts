/**
 * Format 4: a legacy `conversation_<ts>.json`, `{conversation:[{role:"user"|"agent", content,
 * timestamp, source}]}`. Times are naive local times of the agent machine, read in the source time
 * zone; the call runs from the first item to the last. `[]` is a call in which nobody spoke, timed by
 * the file name (`conversation_YYYYMMDD_HHMMSS`, local) with start = end.
 */
import type { CallRecord } from './call-record.ts';
import { callRecordOf, pickCallTimes } from './call-times.ts';
import { readItems, type ItemsOut } from './conversation-items.ts';
import { E_INPUT_FIELD, isObject } from './fields.ts';
import { ProblemList } from './problems.ts';
import type { ReadContext } from './read-context.ts';
import { describeValue } from './timestamps.ts';

/** Read a parsed legacy conversation. Throws InputProblemsError listing every problem. */
export function readLegacyConversation(doc: unknown, file: string, ctx: ReadContext): CallRecord {
  const problems = new ProblemList(file, 'legacy-conversation');
  if (!isObject(doc)) return problems.fail(E_INPUT_FIELD, '', `a legacy conversation must be a JSON object, got ${describeValue(doc)}`);
  if (!Array.isArray(doc.conversation)) {
    problems.add(E_INPUT_FIELD, 'conversation', `conversation must be a list, got ${describeValue(doc.conversation)}`);
  }
  const out: ItemsOut = { items: [], toolCalls: [] };
  const zone = ctx.sourceTimezone;
  if (Array.isArray(doc.conversation)) {
    readItems(doc.conversation, 'conversation', { zone, defaultSource: '', chatSource: 'livekit' }, problems, out);
  }
  problems.throwIfAny();
  const times = pickCallTimes(null, null, out.items, file, zone, ctx);
  return callRecordOf({ file, format: 'legacy-conversation', sessionId: null, times, out, campaign: null, metadata: {} });
}
