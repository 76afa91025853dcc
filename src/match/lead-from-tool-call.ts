/**
 * The lead of a call whose transcript holds a `create_lead` call but for which no lead file matched
 * (DESIGN.md "Matching", last paragraph; "Payload", lead).
 */
import type { LeadFields, LeadRecord, ToolCall } from '../ingest/call-record.ts';

/** The ten text fields of a lead and their defaults (DESIGN.md "Payload": source and status). */
const TEXT_DEFAULTS = {
  name: '',
  email: '',
  company: '',
  interest: '',
  phone: '',
  job_title: '',
  budget: '',
  timeline: '',
  source: 'Friday AI Assistant',
  status: 'new',
} as const satisfies Omit<LeadFields, 'timestamp'>;

/**
 * Build a lead from the arguments of a `create_lead` tool call. String values are kept; numbers
 * (a phone or budget the model typed as a number) become text; anything else (objects, booleans,
 * null) is ignored rather than guessed at. The time is the tool call's own (UTC), else null: the
 * call's time would claim a precision nobody observed.
 */
export function leadFromToolCall(toolCall: ToolCall): LeadRecord {
  const fields: LeadFields = { ...TEXT_DEFAULTS, timestamp: toolCall.timestamp };
  for (const key of Object.keys(TEXT_DEFAULTS) as (keyof typeof TEXT_DEFAULTS)[]) {
    const value = toolCall.arguments[key];
    let text: string | null = null;
    if (typeof value === 'string') text = value.trim();
    else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
    if (text !== null && text !== '') fields[key] = text;
  }
  return { file: null, fields, time: toolCall.timestamp, sessionId: null, campaign: null };
}
