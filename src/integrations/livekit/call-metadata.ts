/**
 * Per-call campaign metadata of a LiveKit job: the dispatcher may put `{campaignId, voiceAgentId,
 * clientId}` into the job's metadata (an agent dispatch, or the SIP dispatch rule's room
 * configuration) or the room's metadata, as JSON text. The ids override the configured ones
 * (docs/architecture.md, "Payload: the contract" → "Ids"), and options given to `attachCrmUpload` override both.
 */
import type { JobContextLike } from './livekit-types.ts';

/** The campaign ids of one call; absent keys fall back to `CRM_CAMPAIGN_ID`, … when the payload is built. */
export interface CallCampaign {
  campaignId?: string;
  voiceAgentId?: string;
  clientId?: string;
}

/** What the job's metadata says about the call. */
export interface JobCallInfo {
  campaign: CallCampaign;
  /** A number the dispatcher named (an outbound call's `phone_number`), or null. */
  dialedNumber: string | null;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Each id under the names dispatchers use for it (the seed's camelCase first). */
const ID_KEYS: Record<keyof CallCampaign, string[]> = {
  campaignId: ['campaignId', 'campaign_id'],
  voiceAgentId: ['voiceAgentId', 'voice_agent_id'],
  clientId: ['clientId', 'client_id', 'client'],
};
const NUMBER_KEYS = ['dialedNumber', 'dialed_number', 'phoneNumber', 'phone_number'];

function firstString(obj: Json, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const v = obj[key];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  return undefined;
}

/**
 * Parse one metadata text. Not JSON, or JSON that is not an object, gives nothing: metadata is free
 * text that other code of the agent may use for its own purposes.
 */
export function parseCallInfo(metadata: string | null | undefined): JobCallInfo {
  const none: JobCallInfo = { campaign: {}, dialedNumber: null };
  if (typeof metadata !== 'string' || metadata.trim() === '') return none;
  let doc: unknown;
  try {
    doc = JSON.parse(metadata);
  } catch {
    return none;
  }
  if (!isObject(doc)) return none;
  // A nested `campaign_metadata` (the seed's name) wins over top-level keys.
  const nested = [doc.campaign_metadata, doc.campaignMetadata].find(isObject);
  const sources = nested ? [nested, doc] : [doc];
  const campaign: CallCampaign = {};
  for (const key of Object.keys(ID_KEYS) as (keyof CallCampaign)[]) {
    for (const source of sources) {
      const v = firstString(source, ID_KEYS[key]);
      if (v !== undefined) {
        campaign[key] = v;
        break;
      }
    }
  }
  let dialedNumber: string | null = null;
  for (const source of sources) dialedNumber ??= firstString(source, NUMBER_KEYS) ?? null;
  return { campaign, dialedNumber };
}

/** Options first, then the job's metadata, then the room's (as dispatched, then as the SDK holds it). */
export function callInfoOf(ctx: JobContextLike, options: CallCampaign): JobCallInfo {
  const layers = [ctx.job?.metadata, ctx.job?.room?.metadata, ctx.room?.metadata].map(parseCallInfo);
  const campaign: CallCampaign = {};
  for (const key of Object.keys(ID_KEYS) as (keyof CallCampaign)[]) {
    const given = options[key];
    const value = typeof given === 'string' && given.trim() !== '' ? given.trim() : layers.find((l) => l.campaign[key] !== undefined)?.campaign[key];
    if (value !== undefined) campaign[key] = value;
  }
  return { campaign, dialedNumber: layers.find((l) => l.dialedNumber !== null)?.dialedNumber ?? null };
}
