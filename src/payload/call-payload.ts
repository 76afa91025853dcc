/**
 * The CRM payload, typed after `contract/call-data.schema.json` (the contract is the authority; these
 * types only help the compiler).
 */
import type { ConversationItem, LeadFields } from '../ingest/call-record.ts';

/** `callDetails` of the contract. */
export interface CallDetails {
  callId: string;
  direction: 'inbound' | 'outbound';
  startTime: string;
  endTime: string;
  duration: number;
  status: 'completed' | 'failed' | 'missed' | 'busy' | 'no-answer' | 'canceled';
  recordingUrl?: string;
  recordingDuration?: number;
  recordingSize?: number;
  callerNumber: string;
}

/** The transcription part of the contract (or `{}`). */
export interface Transcription {
  session_id: string;
  start_time: string;
  end_time: string;
  duration_seconds: number;
  total_items: number;
  conversation_items: Omit<ConversationItem, 'id'>[];
  lead_generated: boolean;
  metadata: Record<string, unknown>;
}

/** One call as the CRM receives it. */
export interface CallPayload {
  campaignId: string;
  voiceAgentId: string;
  client: string;
  callDetails: CallDetails;
  caller: { phoneNumber: string };
  transcription: Transcription | Record<string, never>;
  lead: LeadFields | Record<string, never>;
}
