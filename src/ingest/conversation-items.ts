/**
 * Conversation items shared by the session formats: flat logger events
 * `{role, content, timestamp, source, transcript_confidence?}`, LiveKit chat items
 * `{id, type:"message", role, content:[…], interrupted, transcript_confidence?}` and tool items
 * `{type:"function_call", name, arguments:"<json>", call_id}`.
 */
import type { ConversationItem, ToolCall } from './call-record.ts';
import { E_INPUT_FIELD, isObject, optBoolean, optNumber, optString, optTime, type JsonObject } from './fields.ts';
import type { ProblemList } from './problems.ts';
import { describeValue } from './timestamps.ts';

/** How one format reads its items. */
export interface ItemOptions {
  /** Zone of naive item timestamps. */
  zone: string;
  /** Source of a flat event without one (`""` when nothing is known). */
  defaultSource: string;
  /** Source of a LiveKit chat item without one: its speech came through LiveKit. */
  chatSource: string;
}

/** Items and tool calls of one conversation, appended to as items are read. */
export interface ItemsOut {
  items: ConversationItem[];
  toolCalls: ToolCall[];
}

/**
 * The role as the contract knows it, or null for roles that are not conversation (system, developer,
 * `unknown`). `agent` is the legacy writer's word for the assistant.
 */
export function normaliseRole(role: string): 'user' | 'assistant' | null {
  if (role === 'user') return 'user';
  if (role === 'assistant' || role === 'agent') return 'assistant';
  return null;
}

/**
 * The text of a content value: a string as is; a list has its string parts joined with a space, and
 * its other parts (audio, images) dropped, since the contract carries text only. Returns undefined,
 * after recording a problem, for any other type.
 */
export function contentText(value: unknown, field: string, problems: ProblemList): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    let text = '';
    let first = true;
    for (const part of value) {
      if (typeof part !== 'string') continue;
      text = first ? part : `${text} ${part}`;
      first = false;
    }
    return text;
  }
  problems.add(E_INPUT_FIELD, field, `${field} must be a string or a list of strings, got ${describeValue(value)}`);
  return undefined;
}

/** Parse a tool call's `arguments` (a JSON string, or an object already). */
export function toolArguments(value: unknown, field: string, problems: ProblemList): Record<string, unknown> {
  if (value === undefined || value === null || value === '') return {};
  if (isObject(value)) return value;
  if (typeof value !== 'string') {
    problems.add(E_INPUT_FIELD, field, `${field} must be a JSON string or an object, got ${describeValue(value)}`);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    problems.add(E_INPUT_FIELD, field, `${field} is not valid JSON: ${(err as Error).message}`);
    return {};
  }
  if (!isObject(parsed)) {
    problems.add(E_INPUT_FIELD, field, `${field} must hold a JSON object, got ${describeValue(parsed)}`);
    return {};
  }
  return parsed;
}

/** Read a `function_call` item into a tool call. */
export function readToolCall(item: JsonObject, field: string, opts: ItemOptions, problems: ProblemList, out: ItemsOut): void {
  const name = optString(item, 'name', `${field}.name`, problems);
  if (name === undefined && (item.name === undefined || item.name === null)) {
    problems.add(E_INPUT_FIELD, `${field}.name`, `${field}.name is missing: a tool call needs a name`);
  }
  const args = toolArguments(item.arguments, `${field}.arguments`, problems);
  const timestamp = optTime(item.timestamp ?? item.created_at, opts.zone, `${field}.${item.timestamp !== undefined ? 'timestamp' : 'created_at'}`, problems);
  const callId = optString(item, 'call_id', `${field}.call_id`, problems);
  if (name === undefined) return;
  const call: ToolCall = { name, arguments: args, timestamp };
  if (callId !== undefined) call.callId = callId;
  out.toolCalls.push(call);
}

/**
 * Read one item of any of the shapes above. Items that are not user or assistant messages
 * (`function_call_output`, events, system messages) are dropped; type errors are problems.
 */
export function readItem(item: unknown, field: string, opts: ItemOptions, problems: ProblemList, out: ItemsOut): void {
  if (!isObject(item)) {
    problems.add(E_INPUT_FIELD, field, `${field} must be an object, got ${describeValue(item)}`);
    return;
  }
  const type = optString(item, 'type', `${field}.type`, problems);
  if (type === 'function_call') {
    readToolCall(item, field, opts, problems, out);
    return;
  }
  if (type !== undefined && type !== 'message') return;
  const roleText = optString(item, 'role', `${field}.role`, problems);
  const role = roleText === undefined ? null : normaliseRole(roleText);
  if (role === null) return;
  const rawContent = item.content;
  if (rawContent === undefined || rawContent === null) return;
  const content = contentText(rawContent, `${field}.content`, problems);
  const timestampKey = item.timestamp !== undefined ? 'timestamp' : 'created_at';
  const timestamp = optTime(item[timestampKey], opts.zone, `${field}.${timestampKey}`, problems);
  const source = optString(item, 'source', `${field}.source`, problems);
  const confidence = optNumber(item, 'transcript_confidence', `${field}.transcript_confidence`, problems);
  const interrupted = optBoolean(item, 'interrupted', `${field}.interrupted`, problems);
  const id = optString(item, 'id', `${field}.id`, problems);
  if (content === undefined) return;
  const chatShaped = type === 'message' || Array.isArray(rawContent);
  const result: ConversationItem = {
    role,
    content,
    timestamp,
    source: source ?? (chatShaped ? opts.chatSource : opts.defaultSource),
  };
  if (confidence !== undefined) result.transcript_confidence = confidence;
  if (interrupted !== undefined) result.interrupted = interrupted;
  if (id !== undefined) result.id = id;
  out.items.push(result);
}

/** Read an `items` list; a value that is not a list is a problem naming `field`. */
export function readItems(list: unknown, field: string, opts: ItemOptions, problems: ProblemList, out: ItemsOut): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) {
    problems.add(E_INPUT_FIELD, field, `${field} must be a list, got ${describeValue(list)}`);
    return;
  }
  for (let i = 0; i < list.length; i++) readItem(list[i], `${field}[${i}]`, opts, problems, out);
}
