/**
 * Attaching recordings to the calls of a run (docs/architecture.md "Matching"): explicit or manifest, then the
 * time window: the egress epoch against the call's start, or, for a call whose start is unknown, the
 * recording's end against the call's end; the number must agree when the call's own data knows it.
 */
import type { CallRecord, RecordingFacts } from '../ingest/call-record.ts';
import { phoneKey } from '../ingest/phone.ts';
import { callSpan, startUnknown, timeMs } from './call-span.ts';
import type { Fit, MatchWarning } from './match-types.ts';
import { fitOf, invertFits, newAssignment, resolveStep, type Assignment, type StepNaming } from './resolve-step.ts';
import { allPointsWithin, sortPoints, type TimePoint } from './time-index.ts';

/** How far a recording's epoch (or end) may be from the call's start (or end). */
export const RECORDING_TOLERANCE_MS = 2 * 60_000;

/** What recording matching needs to know about the calls of a run, index-aligned with `calls`. */
export interface RecordingMatchInput {
  calls: readonly CallRecord[];
  /** Per call, the number its own data gives (argument, manifest), or null; never a configured default. */
  knownNumbers: readonly (string | null)[];
  recordings: readonly RecordingFacts[];
  /** Step 1: per call, the recording (index in `recordings`) named by an argument or its manifest. */
  explicit: ReadonlyMap<number, { recording: number; step: 'explicit' | 'manifest' }>;
  /** Calls whose manifest names a recording that was not found: no time match may give them another. */
  closed: ReadonlySet<number>;
}

/** The attachments and the warnings of each step. */
export interface RecordingMatchResult {
  assignment: Assignment;
  warnings: MatchWarning[];
}

/** Run the recording steps for all calls of a run together, strongest first. */
export function matchRecordings(input: RecordingMatchInput): RecordingMatchResult {
  const { calls, recordings } = input;
  const a = newAssignment(recordings.length, calls.length);
  const warnings: MatchWarning[] = [];
  for (const c of input.closed) a.callDecided[c] = 1;
  const naming = (step: string, label: string): StepNaming => ({
    step,
    label,
    kind: 'recording',
    ambiguousCode: 'W_AMBIGUOUS_RECORDING',
    subjectFile: (r) => recordings[r]!.file,
    callFile: (c) => calls[c]!.file,
  });

  // 1. Explicit: an argument, or the manifest's `files.recording`.
  const named = new Map<number, number[]>();
  for (const [c, { recording }] of [...input.explicit].sort(([x], [y]) => x - y)) {
    const list = named.get(recording);
    if (list === undefined) named.set(recording, [c]);
    else list.push(c);
  }
  const explicitFits = new Map<number, Fit>([...named].map(([r, cs]) => [r, fitOf(cs)] as const));
  warnings.push(...resolveStep(a, explicitFits, invertFits(a, explicitFits), naming('explicit', 'explicitly')));
  for (const [c, { step }] of input.explicit) if (a.stepOf[c] === 'explicit') a.stepOf[c] = step;

  // 4. Time window. Calls with a known start are found by start, the others by end.
  const starts: TimePoint[] = [];
  const ends: TimePoint[] = [];
  calls.forEach((call, c) => {
    if (!startUnknown(call)) {
      const at = timeMs(call.startTime);
      if (at !== null) starts.push({ id: c, at });
    } else {
      const span = callSpan(call);
      if (span !== null) ends.push({ id: c, at: span.to });
    }
  });
  const byStart = sortPoints(starts);
  const byEnd = sortPoints(ends);
  const numberKeys = input.knownNumbers.map(phoneKey);
  const fits = new Map<number, Fit>();
  recordings.forEach((rec, r) => {
    if (a.subjectDecided[r] === 1 || rec.epoch === null || !Number.isFinite(rec.epoch)) return;
    const epochMs = rec.epoch * 1000;
    const found = allPointsWithin(byStart, epochMs - RECORDING_TOLERANCE_MS, epochMs + RECORDING_TOLERANCE_MS);
    if (rec.durationSec !== null && Number.isFinite(rec.durationSec)) {
      const endMs = epochMs + rec.durationSec * 1000;
      found.push(...allPointsWithin(byEnd, endMs - RECORDING_TOLERANCE_MS, endMs + RECORDING_TOLERANCE_MS));
    }
    const recKey = phoneKey(rec.number);
    // A number only rules a call out when both sides know one; a default caller phone is not known.
    const agreeing = found.filter((c) => recKey === '' || numberKeys[c] === '' || numberKeys[c] === recKey).sort((x, y) => x - y);
    if (agreeing.length > 0) fits.set(r, fitOf(agreeing));
  });
  warnings.push(...resolveStep(a, fits, invertFits(a, fits), naming('time_window', 'by time (within 2 min of the call\'s start, or of its end when the start is unknown)')));
  a.stepOf.forEach((step, c) => {
    if (step === 'time_window' && startUnknown(calls[c]!)) a.stepOf[c] = 'time_window_end';
  });
  return { assignment: a, warnings };
}
