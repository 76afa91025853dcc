/**
 * Hand-built records for the matching tests, so that they do not depend on the readers: each factory
 * gives a plausible record and takes overrides for what a test is about.
 */
import type { CallRecord, ConversationItem, LeadFields, LeadRecord, ManifestRecord, RecordingFacts, ToolCall } from '../../src/ingest/call-record.ts';
import type { MatchResult } from '../../src/match/match-run.ts';

/** Overrides of a lead: any record field, and any subset of its fields. */
export type LeadOverrides = Omit<Partial<LeadRecord>, 'fields'> & { fields?: Partial<LeadFields> };

/** A UTC ISO time from a short `HH:MM:SS` on the test day (2025-10-29). */
export function utc(hms: string): string {
  return new Date(`2025-10-29T${hms}Z`).toISOString();
}

/**
 * A lead as the reader gives it for a file named with a naive IST time (`lead_20251029_153130.json`
 * for 15:31:30 IST): the name is local, `time` is already UTC, 5 h 30 min behind.
 */
export function istLead(istHms: string, over: LeadOverrides = {}): LeadRecord {
  const time = new Date(`2025-10-29T${istHms}+05:30`).toISOString();
  const file = `/data/leads/lead_20251029_${istHms.replaceAll(':', '')}.json`;
  return lead({ file, time, ...over, fields: { timestamp: time, ...over.fields } });
}

/** A lead file with empty fields unless given. */
export function lead(over: LeadOverrides = {}): LeadRecord {
  const fields: LeadFields = {
    name: '', email: '', company: '', interest: '', phone: '', job_title: '', budget: '', timeline: '',
    timestamp: null, source: 'Friday AI Assistant', status: 'new', ...over.fields,
  };
  return { file: '/data/leads/lead.json', time: null, sessionId: null, campaign: null, ...over, fields };
}

/** Two message items; `ids` gives them LiveKit item ids. */
export function items(n: number, opts: { ids?: string[]; timed?: boolean } = {}): ConversationItem[] {
  return Array.from({ length: n }, (_, i) => {
    const item: ConversationItem = {
      role: i % 2 === 0 ? 'assistant' : 'user',
      content: `message ${i + 1}`,
      timestamp: opts.timed === false ? null : utc(`10:00:${String(i).padStart(2, '0')}`),
      source: 'livekit',
    };
    const id = opts.ids?.[i];
    if (id !== undefined) item.id = id;
    return item;
  });
}

/** A transcript-logger call with its own session id and times. */
export function call(over: Partial<CallRecord> = {}): CallRecord {
  return {
    file: '/data/conversations/transcript_session.json',
    format: 'transcript-logger',
    sessionId: 'session_test',
    sessionIdDerived: false,
    startTime: utc('10:00:00'),
    endTime: utc('10:02:00'),
    timesFrom: 'session',
    items: items(2),
    toolCalls: [],
    campaign: null,
    callerNumber: null,
    metadata: {},
    ...over,
  };
}

/** A `create_lead` tool call. */
export function createLead(args: Record<string, unknown>, timestamp: string | null = null): ToolCall {
  return { name: 'create_lead', arguments: args, timestamp };
}

/** An egress recording named `number-_<digits>-<epoch>.ogg`. */
export function recording(epochIso: string, over: Partial<RecordingFacts> = {}): RecordingFacts {
  const epoch = Date.parse(epochIso) / 1000;
  const number = over.number === undefined ? '919999900001' : over.number;
  return { file: `/data/recordings/number-_${number ?? 'x'}-${epoch}.ogg`, number, epoch, size: 143_347, durationSec: 30, ...over };
}

/** A manifest naming resolved files. */
export function manifest(over: Partial<ManifestRecord> = {}): ManifestRecord {
  return {
    file: '/data/call_metadata/metadata_session.json',
    sessionId: null,
    dialedNumber: null,
    campaign: null,
    files: { recording: null, conversation: null, lead: null },
    startTime: null,
    endTime: null,
    ...over,
  };
}

/** Per bundle: the call's session id, its lead file (or `built` for a lead from create_lead) and how. */
export function leadAttachments(result: MatchResult): [string, string | null, string | undefined][] {
  return result.bundles.map((b) => [b.call.sessionId, b.lead === null ? null : (b.lead.file ?? 'built'), b.matchedBy?.lead]);
}

/** Per bundle: the call's session id, its recording file and how. */
export function recordingAttachments(result: MatchResult): [string, string | null, string | undefined][] {
  return result.bundles.map((b) => [b.call.sessionId, b.recording?.file ?? null, b.matchedBy?.recording]);
}

/** The warnings as `code files…` lines, for exact comparison. */
export function warningLines(result: MatchResult): string[] {
  return result.warnings.map((w) => `${w.code} ${w.files.join(' ')}`);
}

/**
 * A generated run: call i starts 3 minutes after call i − 1 and lasts 2 minutes, so every lead time
 * also falls in neighbours' margins. Its lead is tied to it by session id (i % 3 = 0), by create_lead
 * arguments (i % 3 = 1, lead time unknown) or only by being written during it (i % 3 = 2); its
 * recording starts 20 s after it. Used at scale (20,000 in the tests), to check that the indexed steps stay correct.
 */
export function generatedRun(n: number): { calls: CallRecord[]; leads: LeadRecord[]; recordings: RecordingFacts[] } {
  const base = Date.parse('2025-01-01T00:00:00Z');
  const calls: CallRecord[] = [];
  const leads: LeadRecord[] = [];
  const recordings: RecordingFacts[] = [];
  for (let i = 0; i < n; i++) {
    const start = base + i * 180_000;
    const iso = (ms: number): string => new Date(ms).toISOString();
    const kind = i % 3;
    calls.push(call({
      file: `/data/c/${i}.json`,
      sessionId: `session_${i}`,
      startTime: iso(start),
      endTime: iso(start + 120_000),
      items: [],
      toolCalls: kind === 1 ? [createLead({ name: `Person ${i}`, email: `p${i}@example.com` }, iso(start + 60_000))] : [],
    }));
    leads.push(lead({
      file: `/data/l/${i}.json`,
      sessionId: kind === 0 ? `session_${i}` : null,
      time: kind === 1 ? null : iso(start + 30_000),
      fields: { name: `Person ${i}`, email: kind === 1 ? `P${i}@Example.com` : '' },
    }));
    recordings.push({ file: `/data/r/${i}.ogg`, number: null, epoch: (start + 20_000) / 1000, size: 1, durationSec: 100 });
  }
  return { calls, leads, recordings };
}
