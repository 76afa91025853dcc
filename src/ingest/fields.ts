/**
 * Typed access to fields of parsed JSON for the readers. Each helper returns the value when it has the
 * expected type and otherwise records a problem naming the field, so one pass over a file reports every
 * wrong field rather than only the first.
 */
import type { CampaignMetadata } from './call-record.ts';
import type { ProblemList } from './problems.ts';
import { describeValue, timestampToMs } from './timestamps.ts';

/** Code of a field whose type or shape is wrong. */
export const E_INPUT_FIELD = 'E_INPUT_FIELD';
/** Code of a time that does not parse. */
export const E_INPUT_TIME = 'E_INPUT_TIME';

/** A parsed JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for a plain JSON object (not null, not a list). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string field; `undefined` when absent or null, and also (after recording a problem) when mistyped. */
export function optString(obj: JsonObject, key: string, field: string, problems: ProblemList): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  problems.add(E_INPUT_FIELD, field, `${field} must be a string, got ${describeValue(v)}`);
  return undefined;
}

/** A number field (finite); `undefined` when absent, `null` when null. */
export function optNumber(obj: JsonObject, key: string, field: string, problems: ProblemList): number | null | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  problems.add(E_INPUT_FIELD, field, `${field} must be a number, got ${describeValue(v)}`);
  return undefined;
}

/** A boolean field; `undefined` when absent or null. */
export function optBoolean(obj: JsonObject, key: string, field: string, problems: ProblemList): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  problems.add(E_INPUT_FIELD, field, `${field} must be true or false, got ${describeValue(v)}`);
  return undefined;
}

/** An object field; `undefined` when absent or null. */
export function optObject(obj: JsonObject, key: string, field: string, problems: ProblemList): JsonObject | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (isObject(v)) return v;
  problems.add(E_INPUT_FIELD, field, `${field} must be an object, got ${describeValue(v)}`);
  return undefined;
}

/** A time field as UTC ISO; null when absent or unparseable (the latter recorded as a problem). */
export function optTime(value: unknown, zone: string, field: string, problems: ProblemList): string | null {
  const ms = timestampToMs(value, zone);
  if (ms === null) return null;
  if (ms === undefined) {
    problems.add(E_INPUT_TIME, field, `${field} is not a time: ${describeValue(value)}`);
    return null;
  }
  return new Date(ms).toISOString();
}

const CAMPAIGN_STRING_KEYS = ['campaignId', 'voiceAgentId', 'clientId', 'sessionId', 'dialedNumber'] as const;

/**
 * Per-call campaign metadata. The ids override the configured ones in the payload, so a mistyped id is
 * a problem rather than something to send; other keys (e.g. `egressId`) are passed through untouched.
 */
export function readCampaign(value: unknown, field: string, problems: ProblemList): CampaignMetadata | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) {
    problems.add(E_INPUT_FIELD, field, `${field} must be an object, got ${describeValue(value)}`);
    return null;
  }
  const campaign: CampaignMetadata = { ...value };
  for (const key of CAMPAIGN_STRING_KEYS) {
    const v = value[key];
    if (v === undefined) continue;
    if (v === null || v === '') {
      delete campaign[key];
    } else if (typeof v === 'number' && key === 'dialedNumber') {
      campaign[key] = String(v);
    } else if (typeof v !== 'string') {
      problems.add(E_INPUT_FIELD, `${field}.${key}`, `${field}.${key} must be a string, got ${describeValue(v)}`);
      delete campaign[key];
    }
  }
  return campaign;
}
