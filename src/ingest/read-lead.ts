/**
 * Format 5: a lead file (`lead_YYYYMMDD_HHMMSS.json`, `leads_session_<ts>.json`, or a name built from
 * campaign metadata) with the 11 contract fields and, sometimes, `campaign_metadata` with a
 * `sessionId`. Its `timestamp` and the time in its name are the agent machine's local time.
 */
import type { LeadFields, LeadRecord } from './call-record.ts';
import { E_INPUT_FIELD, isObject, optString, optTime, readCampaign } from './fields.ts';
import { ProblemList } from './problems.ts';
import type { ReadContext } from './read-context.ts';
import { describeValue, fileNameTime } from './timestamps.ts';

/** `source` of a lead that names none (the seed's default). */
export const DEFAULT_LEAD_SOURCE = 'Friday AI Assistant';
/** `status` of a lead that names none. */
export const DEFAULT_LEAD_STATUS = 'new';

/** The ten text fields of a lead, in contract order (the eleventh, `timestamp`, is a time). */
export const LEAD_TEXT_FIELDS = ['name', 'email', 'company', 'interest', 'phone', 'job_title', 'budget', 'timeline', 'source', 'status'] as const;

/** Fields a lead file has and other formats do not: what format detection looks for. */
export const LEAD_MARKER_FIELDS = ['name', 'email', 'phone', 'company', 'interest', 'job_title', 'budget', 'timeline'] as const;

/** The defaults of the contract for a text field: `source` and `status` have one, the rest are `""`. */
function defaultFor(key: (typeof LEAD_TEXT_FIELDS)[number]): string {
  return key === 'source' ? DEFAULT_LEAD_SOURCE : key === 'status' ? DEFAULT_LEAD_STATUS : '';
}

/**
 * A text field's value. A number is accepted and written as digits: JSON writers emit phone numbers
 * and budgets typed as numbers, and such a number has no `+` or leading zero to lose. Booleans,
 * lists and objects are problems, since no string can be recovered from them faithfully.
 */
function textValue(value: unknown, key: string, problems: ProblemList | null): string | undefined {
  if (value === undefined || value === null) return undefined;
  // Surrounding spaces are typing noise (a model's arguments, a form field), never part of a value.
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return Number.isInteger(value) ? value.toFixed(0) : String(value);
  problems?.add(E_INPUT_FIELD, key, `${key} must be a string, got ${describeValue(value)}`);
  return undefined;
}

/**
 * The 11 fields from an object (lead file, `create_lead` arguments, or a lead a caller built), with
 * the contract's defaults; `""` and null mean unknown. With `problems` null, wrong types are left out.
 */
export function leadFields(obj: Record<string, unknown>, timestamp: string | null, problems: ProblemList | null): LeadFields {
  const fields = { timestamp } as LeadFields;
  for (const key of LEAD_TEXT_FIELDS) {
    const v = textValue(obj[key], key, problems);
    fields[key] = v === undefined || v === '' ? defaultFor(key) : v;
  }
  return fields;
}

/** Read a parsed lead file. Throws InputProblemsError listing every problem. */
export function readLead(doc: unknown, file: string, ctx: ReadContext): LeadRecord {
  const problems = new ProblemList(file, 'lead');
  if (!isObject(doc)) return problems.fail(E_INPUT_FIELD, '', `a lead must be a JSON object, got ${describeValue(doc)}`);
  const timestamp = optTime(doc.timestamp, ctx.sourceTimezone, 'timestamp', problems);
  const fields = leadFields(doc, timestamp, problems);
  const campaign = readCampaign(doc.campaign_metadata, 'campaign_metadata', problems);
  const ownSession = optString(doc, 'session_id', 'session_id', problems);
  problems.throwIfAny();
  const sessionId = campaign?.sessionId ?? (ownSession !== undefined && ownSession !== '' ? ownSession : null);
  return {
    file,
    fields,
    time: timestamp ?? fileNameTime(file, ctx.sourceTimezone),
    sessionId,
    campaign,
  };
}

/**
 * A lead built from a `create_lead` tool call's arguments, for a call whose transcript holds one but
 * no lead file matched. Lenient: an argument of the wrong type is left out rather than refused, since
 * the call itself is still worth sending. `timestamp` is the tool call's time, or null.
 */
export function leadFromArguments(args: Record<string, unknown>, timestamp: string | null): LeadRecord {
  return { file: null, fields: leadFields(args, timestamp, null), time: timestamp, sessionId: null, campaign: null };
}
