/**
 * LiveKit chat items (`llm.ChatMessage`, `llm.FunctionCall`, `llm.FunctionCallOutput`,
 * `llm.AgentHandoffItem`, or their `toJSON()` form) as items of a transcript-logger session. The Node
 * SDK writes camelCase (`callId`, `args`, `transcriptConfidence`, `createdAt` in epoch ms); the session
 * file takes the Python SDK's names (`call_id`, `arguments`, `transcript_confidence`) and a UTC
 * `timestamp`, which is what the readers of format 1 know (src/ingest/conversation-items.ts).
 */
import type { TranscriptItem } from '../../logger/transcript-logger.ts';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON form of a chat item: `toJSON(false)` keeps its `createdAt`; a plain object is taken as it is. */
function jsonOf(item: unknown): Json | null {
  if (!isObject(item)) return null;
  const toJSON = item.toJSON;
  if (typeof toJSON === 'function') {
    const json: unknown = toJSON.call(item, false);
    return isObject(json) ? json : null;
  }
  return item;
}

/** `createdAt` (epoch ms) as UTC ISO, or undefined when the item has no usable time. */
function timestampOf(json: Json): string | undefined {
  const at = json.createdAt ?? json.created_at;
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  // The Python SDK writes epoch seconds; Node writes milliseconds.
  return new Date(at < 1e11 ? at * 1000 : at).toISOString();
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Keys with an undefined value left out, so the file and its re-reading compare equal. */
function defined(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

/**
 * One chat item as a session item, or null for what a CRM transcript must not carry: system and
 * developer messages (the agent's prompt), configuration updates, and messages with no text at all
 * (images and audio are not sent).
 */
export function sessionItemOf(item: unknown): TranscriptItem | null {
  const json = jsonOf(item);
  if (json === null) return null;
  const timestamp = timestampOf(json);
  switch (json.type) {
    case 'message': {
      const role = text(json.role);
      if (role !== 'user' && role !== 'assistant') return null;
      const raw = Array.isArray(json.content) ? json.content : [json.content];
      const content = raw.filter((part): part is string => typeof part === 'string');
      if (content.every((part) => part.trim() === '')) return null;
      const confidence = json.transcriptConfidence ?? json.transcript_confidence;
      return defined({
        id: text(json.id),
        type: 'message',
        role,
        content,
        interrupted: typeof json.interrupted === 'boolean' ? json.interrupted : undefined,
        transcript_confidence: typeof confidence === 'number' ? confidence : undefined,
        timestamp,
      }) as TranscriptItem;
    }
    case 'function_call':
      return defined({
        id: text(json.id),
        type: 'function_call',
        name: text(json.name) ?? '',
        arguments: text(json.args) ?? text(json.arguments) ?? '',
        call_id: text(json.callId) ?? text(json.call_id),
        timestamp,
      }) as TranscriptItem;
    case 'function_call_output':
      return defined({
        id: text(json.id),
        type: 'function_call_output',
        name: text(json.name),
        call_id: text(json.callId) ?? text(json.call_id),
        output: text(json.output),
        is_error: typeof json.isError === 'boolean' ? json.isError : undefined,
        timestamp,
      }) as TranscriptItem;
    case 'agent_handoff':
      return defined({
        id: text(json.id),
        type: 'agent_handoff',
        old_agent_id: text(json.oldAgentId),
        new_agent_id: text(json.newAgentId),
        timestamp,
      }) as TranscriptItem;
    default:
      return null;
  }
}

/**
 * The items of `session.history.toJSON({ excludeTimestamp: false, … })` (`{items: [...]}`) as session
 * items, in order. Anything else gives [].
 */
export function sessionItemsOfHistory(historyJson: unknown): TranscriptItem[] {
  if (!isObject(historyJson) || !Array.isArray(historyJson.items)) return [];
  const out: TranscriptItem[] = [];
  for (const item of historyJson.items) {
    const mapped = sessionItemOf(item);
    if (mapped !== null) out.push(mapped);
  }
  return out;
}

/** The items announced by a `function_tools_executed` event: its tool calls, then their outputs. */
export function sessionItemsOfToolsEvent(event: unknown): TranscriptItem[] {
  if (!isObject(event)) return [];
  const calls = Array.isArray(event.functionCalls) ? event.functionCalls : [];
  const outputs = Array.isArray(event.functionCallOutputs) ? event.functionCallOutputs : [];
  const out: TranscriptItem[] = [];
  for (const item of [...calls, ...outputs]) {
    const mapped = sessionItemOf(item);
    if (mapped !== null) out.push(mapped);
  }
  return out;
}
