/**
 * Format 3: a MongoDB export of a transcript-logger session. The envelope is format 1's; a message
 * arrives as `{role:"unknown", content:"", raw:"id='item_…' type='message' role='assistant'
 * content=['…'] interrupted=False transcript_confidence=0.94 …"}`, so role, text, confidence and
 * interrupted are recovered from the Python repr in `raw`. Events such as `persona_applied` are not
 * conversation items and are dropped.
 */
import type { CallRecord, ConversationItem, ToolCall } from './call-record.ts';
import { normaliseRole, readItem, toolArguments, type ItemOptions, type ItemsOut } from './conversation-items.ts';
import { E_INPUT_FIELD, isObject, optTime, type JsonObject } from './fields.ts';
import type { ProblemList } from './problems.ts';
import { parseReprFields, ReprSyntaxError, type PyValue } from './python-repr.ts';
import type { ReadContext } from './read-context.ts';
import { readSession } from './read-session.ts';
import { describeValue, timestampToMs } from './timestamps.ts';

/** Code of a `raw` string that is not a readable Python repr. */
export const E_INPUT_REPR = 'E_INPUT_REPR';

/**
 * Source of items recovered from `raw`. The exporter writes `source: "session_history"`, which names
 * where the exporter found the item, not where its speech came from; docs/architecture.md gives `livekit` to
 * items of LiveKit's history, which is what `raw` holds.
 */
export const RAW_ITEM_SOURCE = 'livekit';

/** Non-raw items (a session that mixes shapes) read as format 1's. */
const FLAT_OPTIONS: ItemOptions = { zone: 'UTC', defaultSource: '', chatSource: 'livekit' };

/** Text of a repr value that should be a string: enum members (`ChatRole.USER`, `<ChatRole.USER: 'user'>`) count. */
function reprText(value: PyValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    if (value.kind === 'name') return value.name.slice(value.name.lastIndexOf('.') + 1).toLowerCase();
    if (value.kind === 'opaque') return /'([^']*)'/.exec(value.text)?.[1];
  }
  return undefined;
}

/** The text of a repr `content`: strings joined with a space; audio or image parts dropped. */
function reprContent(value: PyValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return undefined;
  const parts: string[] = [];
  for (const part of value) if (typeof part === 'string') parts.push(part);
  return parts.join(' ');
}

/** Read one item whose data lives in its `raw` repr. */
function readRawItem(item: JsonObject, raw: string, field: string, problems: ProblemList, out: ItemsOut): void {
  let fields: Record<string, PyValue>;
  try {
    fields = parseReprFields(raw);
  } catch (err) {
    if (!(err instanceof ReprSyntaxError)) throw err;
    problems.add(E_INPUT_REPR, `${field}.raw`, `${field}.raw is not a readable Python repr: ${err.message}`);
    return;
  }
  const role = reprText(fields.role);
  const type = reprText(fields.type) ?? (role !== undefined ? 'message' : undefined);
  // The item's own `timestamp` is the exporter's UTC time of the item; the repr's `created_at` (epoch
  // seconds) is the fallback.
  const timestamp =
    item.timestamp !== undefined && item.timestamp !== null
      ? optTime(item.timestamp, 'UTC', `${field}.timestamp`, problems)
      : reprTime(fields.created_at);

  if (type === 'function_call') {
    const name = reprText(fields.name);
    if (name === undefined) {
      problems.add(E_INPUT_FIELD, `${field}.raw`, `${field}.raw holds a function_call without a name`);
      return;
    }
    const argsValue = fields.arguments;
    const args = toolArguments(typeof argsValue === 'string' ? argsValue : undefined, `${field}.raw.arguments`, problems);
    const call: ToolCall = { name, arguments: args, timestamp };
    const callId = reprText(fields.call_id);
    if (callId !== undefined) call.callId = callId;
    out.toolCalls.push(call);
    return;
  }
  if (type !== 'message') return;
  const normalised = role === undefined ? null : normaliseRole(role);
  if (normalised === null) return;
  const content = reprContent(fields.content);
  if (content === undefined) {
    problems.add(E_INPUT_FIELD, `${field}.raw`, `${field}.raw has no content a string or a list of strings`);
    return;
  }
  const result: ConversationItem = { role: normalised, content, timestamp, source: RAW_ITEM_SOURCE };
  const confidence = fields.transcript_confidence;
  if (confidence === null || typeof confidence === 'number') result.transcript_confidence = confidence;
  if (typeof fields.interrupted === 'boolean') result.interrupted = fields.interrupted;
  const id = reprText(fields.id);
  if (id !== undefined) result.id = id;
  out.items.push(result);
}

function reprTime(value: PyValue | undefined): string | null {
  const ms = typeof value === 'number' || typeof value === 'string' ? timestampToMs(value, 'UTC') : null;
  return typeof ms === 'number' ? new Date(ms).toISOString() : null;
}

/** Read the `items` list of an export. */
function readExportItems(list: unknown, out: ItemsOut, problems: ProblemList): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) {
    problems.add(E_INPUT_FIELD, 'items', `items must be a list, got ${describeValue(list)}`);
    return;
  }
  for (let i = 0; i < list.length; i++) {
    const item: unknown = list[i];
    const field = `items[${i}]`;
    if (!isObject(item)) {
      problems.add(E_INPUT_FIELD, field, `${field} must be an object, got ${describeValue(item)}`);
      continue;
    }
    const raw = item.raw;
    if (typeof raw === 'string' && raw.trim() !== '') {
      readRawItem(item, raw, field, problems, out);
    } else if (raw !== undefined && raw !== null && raw !== '') {
      problems.add(E_INPUT_FIELD, `${field}.raw`, `${field}.raw must be a string, got ${describeValue(raw)}`);
    } else {
      readItem(item, field, FLAT_OPTIONS, problems, out);
    }
  }
}

/** Read a parsed MongoDB export. Throws InputProblemsError listing every problem. */
export function readMongoExport(doc: unknown, file: string, ctx: ReadContext): CallRecord {
  return readSession(doc, file, ctx, 'mongo-export', readExportItems);
}
