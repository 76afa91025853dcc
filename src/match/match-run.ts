/**
 * Matching for a whole run (docs/architecture.md "Matching"): from the records the readers produced to one
 * CallBundle per call, with its lead, recording and manifest. Pure: no I/O, the same input always
 * gives the same bundles and warnings, in the same order.
 *
 * Order of work: files that are one call are grouped and merged (manifest applied); recordings are
 * matched first, because a call whose start was unknown takes its recording's epoch as start, which
 * the lead time window then uses; then leads; then calls still without a lead file get one built from
 * their own `create_lead` call.
 */
import { ConfigError } from '../errors.ts';
import type { CallBundle, CallRecord, LeadRecord, ManifestRecord, RecordingFacts } from '../ingest/call-record.ts';
import { startUnknown, timeMs } from './call-span.ts';
import { isCreateLead } from './lead-agreement.ts';
import { leadFromToolCall } from './lead-from-tool-call.ts';
import { matchLeads } from './match-leads.ts';
import { matchRecordings } from './match-recordings.ts';
import type { MatchError, MatchWarning } from './match-types.ts';
import { applyManifest, groupCalls, mergeCallRecords } from './merge-calls.ts';

/** Values the user gave for the one call of a `send` (CLI flags or library arguments). */
export interface ExplicitInputs {
  lead?: LeadRecord;
  recording?: RecordingFacts;
  callerPhone?: string;
  callId?: string;
}

/** Everything the readers found for one run. */
export interface MatchInput {
  calls: CallRecord[];
  leads: LeadRecord[];
  recordings: RecordingFacts[];
  manifests: ManifestRecord[];
  /** Only meaningful when the run is one call (`send`); with more calls it is a usage error. */
  explicit?: ExplicitInputs;
}

/** The bundles to send and what the user should be told about the rest. */
export interface MatchResult {
  bundles: CallBundle[];
  warnings: MatchWarning[];
  /** Lead files attached to no call, in input order (each also has a `W_UNMATCHED_LEAD` warning). */
  unmatchedLeads: string[];
  /** Recording files attached to no call, in input order. */
  unmatchedRecordings: string[];
  /** Files for which nothing is sent (a manifest whose conversation is missing). */
  errors: MatchError[];
}

/** Index of the record with `file` in `pool`, appending `record` when it is not there. */
function indexIn<T extends { file: string | null }>(pool: T[], record: T): number {
  const at = record.file === null ? -1 : pool.findIndex((x) => x.file === record.file);
  if (at >= 0) return at;
  pool.push(record);
  return pool.length - 1;
}

/** The first index of each file in `pool`. */
function fileIndex(pool: readonly { file: string | null }[]): Map<string, number> {
  const out = new Map<string, number>();
  pool.forEach((x, i) => {
    if (x.file !== null && !out.has(x.file)) out.set(x.file, i);
  });
  return out;
}

/** True when any explicit value is set. */
function hasExplicit(e: ExplicitInputs | undefined): e is ExplicitInputs {
  return e !== undefined && (e.lead !== undefined || e.recording !== undefined || e.callerPhone !== undefined || e.callId !== undefined);
}

/**
 * Match all calls of a run together. Throws ConfigError when explicit values are given for a run of
 * more than one call (they would attach one lead, recording or callId to several calls).
 */
export function matchRun(input: MatchInput): MatchResult {
  const grouped = groupCalls(input.calls, input.manifests);
  const warnings: MatchWarning[] = [...grouped.warnings];
  const manifests = grouped.groups.map((g) => g.manifest);
  const calls: CallRecord[] = grouped.groups.map((g) => {
    const merged = mergeCallRecords(g.records);
    return g.manifest === null ? merged : applyManifest(merged, g.manifest);
  });

  const explicit = hasExplicit(input.explicit) && calls.length > 0 ? input.explicit : undefined;
  if (explicit !== undefined && calls.length > 1) {
    throw new ConfigError(`a lead, recording, caller phone or call id given explicitly needs exactly one call; this run has ${calls.length}`, {
      file: calls.map((c) => c.file).join(', '),
    });
  }

  const leads = [...input.leads];
  const recordings = [...input.recordings];
  // Only manifests look leads and recordings up by path.
  const anyManifest = manifests.some((m) => m !== null);
  const leadAt = anyManifest ? fileIndex(leads) : new Map<string, number>();
  const recordingAt = anyManifest ? fileIndex(recordings) : new Map<string, number>();
  const explicitLeads = new Map<number, { lead: number; step: 'explicit' | 'manifest' }>();
  const explicitRecordings = new Map<number, { recording: number; step: 'explicit' | 'manifest' }>();
  const closedLeads = new Set<number>();
  const closedRecordings = new Set<number>();
  if (explicit?.lead !== undefined) explicitLeads.set(0, { lead: indexIn(leads, explicit.lead), step: 'explicit' });
  if (explicit?.recording !== undefined) explicitRecordings.set(0, { recording: indexIn(recordings, explicit.recording), step: 'explicit' });
  manifests.forEach((manifest, c) => {
    if (manifest === null) return;
    // A path the resolver could not find inside the folders is null in `files` but still in `rawFiles`.
    const lead = manifest.files.lead ?? manifest.rawFiles?.lead ?? null;
    const recording = manifest.files.recording ?? manifest.rawFiles?.recording ?? null;
    if (lead !== null && !explicitLeads.has(c)) {
      const l = leadAt.get(lead);
      if (l !== undefined) explicitLeads.set(c, { lead: l, step: 'manifest' });
      else {
        // The manifest says which lead is this call's; guessing another one would contradict it.
        closedLeads.add(c);
        warnings.push({
          code: 'W_MANIFEST_LEAD_MISSING',
          message: `manifest ${manifest.file} names lead ${lead}, which was not found; the call gets no other lead file`,
          files: [manifest.file, lead],
        });
      }
    }
    if (recording !== null && !explicitRecordings.has(c)) {
      const r = recordingAt.get(recording);
      if (r !== undefined) explicitRecordings.set(c, { recording: r, step: 'manifest' });
      else {
        closedRecordings.add(c);
        warnings.push({
          code: 'W_MANIFEST_RECORDING_MISSING',
          message: `manifest ${manifest.file} names recording ${recording}, which was not found; the call gets no other recording`,
          files: [manifest.file, recording],
        });
      }
    }
  });

  const knownNumbers = calls.map((call, c) => (c === 0 ? explicit?.callerPhone : undefined) ?? call.callerNumber);
  const rec = matchRecordings({ calls, knownNumbers, recordings, explicit: explicitRecordings, closed: closedRecordings });
  warnings.push(...rec.warnings);
  rec.assignment.subjectOf.forEach((r, c) => {
    const call = calls[c]!;
    const epoch = r >= 0 ? recordings[r]!.epoch : null;
    if (epoch === null || !startUnknown(call)) return;
    // Egress starts with the call: its epoch is the best start a timeless dump can get.
    const startMs = epoch * 1000;
    const endMs = Math.max(timeMs(call.endTime) ?? startMs, startMs);
    calls[c] = { ...call, startTime: new Date(startMs).toISOString(), endTime: new Date(endMs).toISOString(), timesFrom: 'recording' };
  });

  const led = matchLeads({ calls, manifests, leads, explicit: explicitLeads, closed: closedLeads });
  warnings.push(...led.warnings);

  const bundles: CallBundle[] = calls.map((call, c) => {
    const l = led.assignment.subjectOf[c]!;
    const r = rec.assignment.subjectOf[c]!;
    const manifest = manifests[c] ?? null;
    let lead: LeadRecord | null = l >= 0 ? leads[l]! : null;
    const matchedBy: { lead?: string; recording?: string } = {};
    if (lead !== null) matchedBy.lead = led.assignment.stepOf[c] ?? undefined;
    else {
      // The last create_lead wins: an agent that corrects a lead calls the tool again.
      const created = call.toolCalls.filter(isCreateLead).at(-1);
      if (created !== undefined) {
        lead = leadFromToolCall(created);
        matchedBy.lead = 'create_lead_arguments';
      }
    }
    const recording = r >= 0 ? recordings[r]! : null;
    if (recording !== null) matchedBy.recording = rec.assignment.stepOf[c] ?? undefined;
    const files = new Set<string>(grouped.groups[c]!.records.map((x) => x.file));
    if (manifest !== null) files.add(manifest.file);
    if (lead?.file) files.add(lead.file);
    if (recording !== null) files.add(recording.file);
    const bundle: CallBundle = { call, lead, recording, manifest, files: [...files], matchedBy };
    if (c === 0 && explicit !== undefined && (explicit.callerPhone !== undefined || explicit.callId !== undefined)) {
      bundle.overrides = {};
      if (explicit.callerPhone !== undefined) bundle.overrides.callerPhone = explicit.callerPhone;
      if (explicit.callId !== undefined) bundle.overrides.callId = explicit.callId;
    }
    return bundle;
  });

  const unmatchedLeads: string[] = [];
  leads.forEach((lead, l) => {
    if (lead.file === null || led.assignment.callOf[l]! >= 0) return;
    unmatchedLeads.push(lead.file);
    const why = led.assignment.whyNot[l] ?? 'no call matches it by manifest, session id, create_lead arguments or time';
    warnings.push({ code: 'W_UNMATCHED_LEAD', message: `lead ${lead.file} is attached to no call: ${why}`, files: [lead.file] });
  });
  const unmatchedRecordings: string[] = [];
  recordings.forEach((recording, r) => {
    if (rec.assignment.callOf[r]! >= 0) return;
    unmatchedRecordings.push(recording.file);
    const why = rec.assignment.whyNot[r] ?? 'no call matches it by manifest or time';
    warnings.push({ code: 'W_UNMATCHED_RECORDING', message: `recording ${recording.file} is attached to no call: ${why}`, files: [recording.file] });
  });

  return { bundles, warnings, unmatchedLeads, unmatchedRecordings, errors: grouped.errors };
}
