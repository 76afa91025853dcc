/**
 * Step 3 of matching (docs/architecture.md "Matching"): does a `create_lead` tool call describe the same lead as
 * a lead file? The rule is deliberately strict on conflicts and lenient on gaps, because a lead file
 * often holds fields the agent filled in later than the tool call.
 */
import type { LeadFields, ToolCall } from '../ingest/call-record.ts';
import { phoneKey } from '../ingest/phone.ts';

/** The three identifying values of a lead, normalised for comparison; `""` when absent. */
export interface LeadKeys {
  name: string;
  email: string;
  phone: string;
}

/** Case and spaces ignored: `" Asha  Rao"` and `"asha rao"` are the same name. */
export function normalizeWord(value: string): string {
  return value.toLowerCase().replace(/\s+/g, '');
}

/** A tool argument as text: strings as they are, numbers (a phone typed as a number) via String. */
function argText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return '';
}

/** The identifying keys of `create_lead` arguments. */
export function keysOfArguments(args: Record<string, unknown>): LeadKeys {
  return {
    name: normalizeWord(argText(args.name)),
    email: normalizeWord(argText(args.email)),
    phone: phoneKey(argText(args.phone)),
  };
}

/** The identifying keys of a lead file's fields. */
export function keysOfLead(fields: LeadFields): LeadKeys {
  return { name: normalizeWord(fields.name), email: normalizeWord(fields.email), phone: phoneKey(fields.phone) };
}

/**
 * True when at least one of name, email and phone is present on both sides and every one present on
 * both sides is equal (phones by their last 10 digits).
 */
export function keysAgree(a: LeadKeys, b: LeadKeys): boolean {
  let shared = 0;
  for (const k of ['name', 'email', 'phone'] as const) {
    if (a[k] === '' || b[k] === '') continue;
    if (a[k] !== b[k]) return false;
    shared++;
  }
  return shared > 0;
}

/** True for the tool call that creates a lead. */
export function isCreateLead(toolCall: ToolCall): boolean {
  return toolCall.name === 'create_lead';
}
