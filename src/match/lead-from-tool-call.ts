/**
 * The lead of a call whose transcript holds a `create_lead` call but for which no lead file matched
 * (docs/architecture.md "Matching", last paragraph; "Payload", lead).
 */
import type { LeadRecord, ToolCall } from '../ingest/call-record.ts';
import { leadFromArguments } from '../ingest/read-lead.ts';

/**
 * Build a lead from the arguments of a `create_lead` tool call: the same field rules as a lead file,
 * leniently (an argument of the wrong type is left out, since the call is still worth sending). The
 * time is the tool call's own (UTC), else null: the call's time would claim a precision nobody observed.
 */
export function leadFromToolCall(toolCall: ToolCall): LeadRecord {
  return leadFromArguments(toolCall.arguments, toolCall.timestamp);
}
