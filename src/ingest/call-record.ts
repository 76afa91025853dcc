/**
 * The common shape every reader produces. Each input format (docs/architecture.md, "Inputs seen in real
 * deployments") is read into these types, so that matching and the payload mapping never see a format.
 */

/** Names of the input formats, as `validate` reports them. */
export type FormatName =
  | 'transcript-logger'
  | 'livekit-history'
  | 'mongo-export'
  | 'legacy-conversation'
  | 'lead'
  | 'recording'
  | 'manifest'
  | 'event-log';

/** One user or assistant message. Times are UTC ISO strings with `Z`, or null when unknown. */
export interface ConversationItem {
  role: 'user' | 'assistant';
  content: string;
  timestamp: string | null;
  source: string;
  transcript_confidence?: number | null;
  interrupted?: boolean;
  /** LiveKit item id (`item_…`) when known; used to find the same call saved in two formats. */
  id?: string;
}

/** A tool call made during the call, e.g. `create_lead`, with its JSON arguments parsed. */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
  /** UTC ISO time of the tool call, or null. */
  timestamp: string | null;
  callId?: string;
}

/** Per-call ids that override the configured ones (`metadata.campaign_metadata`). */
export interface CampaignMetadata {
  campaignId?: string;
  voiceAgentId?: string;
  clientId?: string;
  sessionId?: string;
  dialedNumber?: string;
  [key: string]: unknown;
}

/** Where the call's start/end times came from, recorded in `transcription.metadata.times_from`. */
export type TimesSource = 'session' | 'items' | 'manifest' | 'file_name' | 'mtime' | 'recording' | 'argument';

/** A call read from a conversation file (formats 1–4). */
export interface CallRecord {
  /** Absolute path of the file it was read from. */
  file: string;
  format: FormatName;
  /** The session id of the file, or a derived one (docs/architecture.md "Session ids"). Never empty. */
  sessionId: string;
  /** True when the session id was derived rather than read from the file. */
  sessionIdDerived: boolean;
  /** UTC ISO start and end, or null when the format does not know them (LiveKit history). */
  startTime: string | null;
  endTime: string | null;
  timesFrom: TimesSource | null;
  /** User and assistant messages, in order. */
  items: ConversationItem[];
  toolCalls: ToolCall[];
  /** Per-call campaign metadata, when the file carries it. */
  campaign: CampaignMetadata | null;
  /** The caller number the call's own data gives (manifest, argument), if any. */
  callerNumber: string | null;
  /** The file's own `metadata` object, passed through to `transcription.metadata`. */
  metadata: Record<string, unknown>;
}

/** The 11 lead fields of the contract. */
export interface LeadFields {
  name: string;
  email: string;
  company: string;
  interest: string;
  phone: string;
  job_title: string;
  budget: string;
  timeline: string;
  /** UTC ISO or null. */
  timestamp: string | null;
  source: string;
  status: string;
}

/** A lead read from a lead file (format 5) or built from `create_lead` arguments. */
export interface LeadRecord {
  /** Absolute path, or null for a lead built from a tool call. */
  file: string | null;
  fields: LeadFields;
  /** UTC ISO time of the lead (its `timestamp`, else its file name), or null. */
  time: string | null;
  sessionId: string | null;
  campaign: CampaignMetadata | null;
}

/** Facts about a recording file (format 6). */
export interface RecordingFacts {
  file: string;
  /** Digits of the caller number from the file name, or null. */
  number: string | null;
  /** Start epoch seconds from the file name, or null. */
  epoch: number | null;
  size: number;
  /** Whole seconds read from the audio, or null when it could not be read. */
  durationSec: number | null;
  /**
   * Egress was still writing the file when it was read (an Ogg without its end-of-stream page, a WAV whose
   * data size is not written yet): no duration was read (`durationSec` is null) and `size` is not final.
   * The worker reads both once the file is finished (docs/architecture.md, "Delivery" → "Recording step").
   */
  stillWriting?: true;
}

/** A call manifest (format 7), its paths already resolved inside the configured folders. */
export interface ManifestRecord {
  file: string;
  sessionId: string | null;
  dialedNumber: string | null;
  campaign: CampaignMetadata | null;
  /** Resolved absolute paths (inside the configured folders), or null. */
  files: { recording: string | null; conversation: string | null; lead: string | null };
  /**
   * The paths as the manifest wrote them (absolute paths on the agent's machine). Only their base
   * names are used, to resolve `files` inside the configured folders; they are never read.
   */
  rawFiles?: { recording: string | null; conversation: string | null; lead: string | null };
  startTime: string | null;
  endTime: string | null;
}

/** Everything known about one call once matching is done: the input of the payload mapping. */
export interface CallBundle {
  call: CallRecord;
  lead: LeadRecord | null;
  recording: RecordingFacts | null;
  manifest: ManifestRecord | null;
  /** Values given explicitly by the user (CLI flags, library arguments); they win over everything. */
  overrides?: { callerPhone?: string; callId?: string };
  /** Every input file that makes up this call (conversation files, manifest, lead, recording). */
  files?: string[];
  /** Why the lead or recording was attached (`explicit`, `session_id`, `create_lead`, `time_window`, …). */
  matchedBy?: { lead?: string; recording?: string };
}
