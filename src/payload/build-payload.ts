/**
 * The pure mapping from a matched call (CallBundle) to the CRM payload (docs/architecture.md, "Payload: the
 * contract"). No I/O: the same bundle and settings always give the same payload.
 */
import { ConfigError, InputError } from '../errors.ts';
import type { CallBundle, CampaignMetadata, LeadFields, LeadRecord } from '../ingest/call-record.ts';
import { toE164 } from '../ingest/phone.ts';
import { leadFields } from '../ingest/read-lead.ts';
import type { CallPayload, Transcription } from './call-payload.ts';
import { makeCallId } from './call-id.ts';

/** The configuration the mapping needs (a subset of Config). */
export interface PayloadSettings {
  campaignId: string | null;
  voiceAgentId: string | null;
  clientId: string | null;
  defaultCallerPhone: string | null;
  defaultRegion: string;
}

/** Recording figures to put in callDetails (the URL only once the upload has returned it). */
export interface RecordingFigures {
  url?: string | null;
  size?: number | null;
  duration?: number | null;
}

/** Times the file itself gave; any other source is recorded in `transcription.metadata.times_from`. */
const OWN_TIMES = new Set(['session', 'items']);

/** The first non-empty string among the candidates. */
function firstOf(...values: (string | null | undefined)[]): string | null {
  for (const v of values) if (typeof v === 'string' && v.trim() !== '') return v.trim();
  return null;
}

/** The campaign/agent/client ids: the call's own metadata first, then the configured ones. */
export function resolveIds(bundle: CallBundle, settings: PayloadSettings): { campaignId: string; voiceAgentId: string; client: string } {
  const own: (CampaignMetadata | null | undefined)[] = [bundle.call.campaign, bundle.manifest?.campaign, bundle.lead?.campaign];
  const pick = (key: 'campaignId' | 'voiceAgentId' | 'clientId', configured: string | null, variable: string): string => {
    const value = firstOf(...own.map((c) => (typeof c?.[key] === 'string' ? (c[key] as string) : null)), configured);
    if (value === null) {
      throw new ConfigError(`${variable} is not set and the call carries no ${key} of its own`, {
        variable,
        file: bundle.call.file,
      });
    }
    return value;
  };
  return {
    campaignId: pick('campaignId', settings.campaignId, 'CRM_CAMPAIGN_ID'),
    voiceAgentId: pick('voiceAgentId', settings.voiceAgentId, 'CRM_VOICE_AGENT_ID'),
    client: pick('clientId', settings.clientId, 'CRM_CLIENT_ID'),
  };
}

/**
 * The caller number: argument > manifest `dialed_number` > the call's own number > campaign
 * `dialedNumber` > recording file name > `CRM_DEFAULT_CALLER_PHONE` > "", then E.164.
 */
export function resolveCallerNumber(bundle: CallBundle, settings: PayloadSettings): string {
  const campaigns = [bundle.call.campaign, bundle.manifest?.campaign];
  const raw = firstOf(
    bundle.overrides?.callerPhone,
    bundle.manifest?.dialedNumber,
    bundle.call.callerNumber,
    ...campaigns.map((c) => (typeof c?.dialedNumber === 'string' ? c.dialedNumber : null)),
    bundle.recording?.number,
    settings.defaultCallerPhone,
  );
  return toE164(raw, settings.defaultRegion);
}

/** The lead's 11 fields with their defaults, or `{}` when no lead exists. */
export function leadPart(lead: LeadRecord | null): LeadFields | Record<string, never> {
  if (!lead) return {};
  return leadFields(lead.fields as unknown as Record<string, unknown>, lead.fields.timestamp ?? lead.time ?? null, null);
}

/** Build the contract payload of one call. Throws ConfigError (ids) or InputError (no times). */
export function buildPayload(bundle: CallBundle, settings: PayloadSettings, recording?: RecordingFigures): CallPayload {
  const { call } = bundle;
  const start = call.startTime ?? call.endTime;
  const end = call.endTime ?? call.startTime;
  if (start === null || end === null) {
    throw new InputError('the call has no start or end time', { code: 'E_INPUT_TIME', file: call.file, field: 'start_time' });
  }
  const startMs = Date.parse(start);
  const endMs = Math.max(Date.parse(end), startMs);
  const ids = resolveIds(bundle, settings);
  const callId = firstOf(bundle.overrides?.callId) ?? makeCallId(start, call.sessionId);
  const callerNumber = resolveCallerNumber(bundle, settings);
  const lead = leadPart(bundle.lead);
  const leadGenerated = bundle.lead !== null || call.toolCalls.some((t) => t.name === 'create_lead');

  const metadata: Record<string, unknown> = { ...call.metadata };
  if (call.timesFrom !== null && !OWN_TIMES.has(call.timesFrom)) metadata.times_from = call.timesFrom;
  const transcription: Transcription = {
    session_id: call.sessionId,
    start_time: new Date(startMs).toISOString(),
    end_time: new Date(endMs).toISOString(),
    duration_seconds: (endMs - startMs) / 1000,
    total_items: call.items.length,
    conversation_items: call.items.map((item) => {
      const out: Transcription['conversation_items'][number] = {
        role: item.role,
        content: item.content,
        timestamp: item.timestamp,
        source: item.source,
      };
      if (item.transcript_confidence !== undefined) out.transcript_confidence = item.transcript_confidence;
      if (item.interrupted !== undefined) out.interrupted = item.interrupted;
      return out;
    }),
    lead_generated: leadGenerated,
    metadata,
  };

  const payload: CallPayload = {
    campaignId: ids.campaignId,
    voiceAgentId: ids.voiceAgentId,
    client: ids.client,
    callDetails: {
      callId,
      direction: 'inbound',
      startTime: new Date(startMs).toISOString(),
      endTime: new Date(endMs).toISOString(),
      duration: Math.round((endMs - startMs) / 1000),
      status: 'completed',
      callerNumber,
    },
    caller: { phoneNumber: callerNumber },
    transcription,
    lead,
  };
  // A recording egress was still writing when it was read: its size is not final (and no duration was read);
  // the worker reads both from the finished file before the upload (docs/architecture.md, "Recording step").
  const scanned = bundle.recording?.stillWriting ? null : bundle.recording;
  const size = recording?.size ?? scanned?.size ?? null;
  const duration = recording?.duration ?? scanned?.durationSec ?? null;
  if (recording?.url) payload.callDetails.recordingUrl = recording.url;
  if (duration !== null) payload.callDetails.recordingDuration = Math.round(duration);
  if (size !== null) payload.callDetails.recordingSize = size;
  return payload;
}

/** Put an uploaded recording's URL and figures into a payload (a copy; the input is left as it is). */
export function withRecording(payload: CallPayload, recording: RecordingFigures): CallPayload {
  const callDetails = { ...payload.callDetails };
  if (recording.url) callDetails.recordingUrl = recording.url;
  if (recording.size !== null && recording.size !== undefined) callDetails.recordingSize = recording.size;
  if (recording.duration !== null && recording.duration !== undefined) callDetails.recordingDuration = Math.round(recording.duration);
  return { ...payload, callDetails };
}
