/**
 * Attaching lead files to the calls of a run (docs/architecture.md "Matching"): explicit or manifest, then the
 * same session id, then `create_lead` arguments, then the time window in two passes. Every step looks
 * at all calls at once through maps and sorted times, so a run of 50,000 calls and leads stays fast.
 */
import type { CallRecord, LeadRecord, ManifestRecord } from '../ingest/call-record.ts';
import { isCreateLead, keysAgree, keysOfArguments, keysOfLead, type LeadKeys } from './lead-agreement.ts';
import type { Fit, MatchWarning } from './match-types.ts';
import { fitOf, invertFits, newAssignment, resolveStep, type Assignment, type StepNaming } from './resolve-step.ts';
import { callSpan, timeMs } from './call-span.ts';
import { intervalsContaining, pointsWithin, type Interval, type TimePoint } from './time-index.ts';

/** How long before a call's start a lead may be written (docs/architecture.md step 4): clocks drift. */
export const LEAD_MARGIN_BEFORE_MS = 2 * 60_000;
/** How long after a call's end a lead may be written: the agent saves it once the caller has gone. */
export const LEAD_MARGIN_AFTER_MS = 10 * 60_000;

/** What lead matching needs to know about the calls of a run, index-aligned with `calls`. */
export interface LeadMatchInput {
  calls: readonly CallRecord[];
  manifests: readonly (ManifestRecord | null)[];
  leads: readonly LeadRecord[];
  /** Step 1: per call, the lead (index in `leads`) named by an argument or its manifest. */
  explicit: ReadonlyMap<number, { lead: number; step: 'explicit' | 'manifest' }>;
  /** Calls whose manifest names a lead file that was not found: no weaker step may give them another. */
  closed: ReadonlySet<number>;
}

/** The attachments and the warnings of each step. */
export interface LeadMatchResult {
  assignment: Assignment;
  warnings: MatchWarning[];
}

/** Every session id under which a call may be named by a lead file. */
function callSessionKeys(call: CallRecord, manifest: ManifestRecord | null): string[] {
  const keys = [call.sessionId, call.campaign?.sessionId, manifest?.sessionId, manifest?.campaign?.sessionId];
  return [...new Set(keys.filter((k): k is string => typeof k === 'string' && k !== ''))];
}

/** Every session id a lead file carries. */
function leadSessionKeys(lead: LeadRecord): string[] {
  const keys = [lead.sessionId, lead.campaign?.sessionId];
  return [...new Set(keys.filter((k): k is string => typeof k === 'string' && k !== ''))];
}

/** Append `value` to the list under `key`, creating it. */
function push(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (list[list.length - 1] !== value) list.push(value);
}

/** Undecided leads with their fits, for steps whose fits are looked up per lead. */
function fitsPerLead(a: Assignment, leads: readonly LeadRecord[], lookup: (lead: LeadRecord) => number[]): Map<number, Fit> {
  const out = new Map<number, Fit>();
  leads.forEach((lead, l) => {
    if (a.subjectDecided[l] === 1) return;
    const calls = lookup(lead);
    if (calls.length > 0) out.set(l, fitOf(calls));
  });
  return out;
}

/** Union of the lists under the given keys, each call once, in call order. */
function unionOf(map: ReadonlyMap<string, number[]>, keys: readonly string[]): number[] {
  if (keys.length === 1) return map.get(keys[0]!) ?? [];
  const set = new Set<number>();
  for (const k of keys) for (const c of map.get(k) ?? []) set.add(c);
  return [...set].sort((x, y) => x - y);
}

/** Run the lead steps for all calls of a run together, strongest first. */
export function matchLeads(input: LeadMatchInput): LeadMatchResult {
  const { calls, manifests, leads } = input;
  const a = newAssignment(leads.length, calls.length);
  const warnings: MatchWarning[] = [];
  for (const c of input.closed) a.callDecided[c] = 1;
  const naming = (step: string, label: string): StepNaming => ({
    step,
    label,
    kind: 'lead',
    ambiguousCode: 'W_AMBIGUOUS_LEAD',
    subjectFile: (l) => leads[l]!.file ?? `(lead #${l + 1})`,
    callFile: (c) => calls[c]!.file,
  });
  const run = (fits: Map<number, Fit>, callFits: Map<number, Fit>, n: StepNaming): void => {
    warnings.push(...resolveStep(a, fits, callFits, n));
  };

  // 1. Explicit: an argument, or the manifest's `files.lead`.
  const named = new Map<number, number[]>();
  for (const [c, { lead }] of [...input.explicit].sort(([x], [y]) => x - y)) {
    const list = named.get(lead);
    if (list === undefined) named.set(lead, [c]);
    else list.push(c);
  }
  const explicitFits = new Map([...named].map(([l, cs]) => [l, fitOf(cs)] as const));
  run(explicitFits, invertFits(a, explicitFits), naming('explicit', 'explicitly'));
  for (const [c, { step }] of input.explicit) if (a.stepOf[c] === 'explicit') a.stepOf[c] = step;

  // 2. The same session id.
  const bySession = new Map<string, number[]>();
  calls.forEach((call, c) => {
    for (const key of callSessionKeys(call, manifests[c] ?? null)) push(bySession, key, c);
  });
  const sessionFits = fitsPerLead(a, leads, (lead) => unionOf(bySession, leadSessionKeys(lead)));
  run(sessionFits, invertFits(a, sessionFits), naming('session_id', 'by session id'));

  // 3. A `create_lead` call whose arguments agree with the lead file.
  const byName = new Map<string, number[]>();
  const byEmail = new Map<string, number[]>();
  const byPhone = new Map<string, number[]>();
  const toolKeys: LeadKeys[][] = calls.map((call, c) => {
    const keys = call.toolCalls.filter(isCreateLead).map((t) => keysOfArguments(t.arguments));
    for (const k of keys) {
      if (k.name !== '') push(byName, k.name, c);
      if (k.email !== '') push(byEmail, k.email, c);
      if (k.phone !== '') push(byPhone, k.phone, c);
    }
    return keys;
  });
  const createLeadFits = fitsPerLead(a, leads, (lead) => {
    const k = keysOfLead(lead.fields);
    const candidates = new Set<number>();
    for (const [map, key] of [[byName, k.name], [byEmail, k.email], [byPhone, k.phone]] as const) {
      if (key !== '') for (const c of map.get(key) ?? []) candidates.add(c);
    }
    return [...candidates].filter((c) => toolKeys[c]!.some((t) => keysAgree(t, k))).sort((x, y) => x - y);
  });
  run(createLeadFits, invertFits(a, createLeadFits), naming('create_lead', 'by create_lead arguments'));

  // 4. The time window: first a lead written during a call, then the margins around calls.
  const spans = calls.map(callSpan);
  const windowPass = (before: number, after: number, n: StepNaming): void => {
    const intervals: Interval[] = [];
    spans.forEach((span, c) => {
      if (span !== null) intervals.push({ id: c, from: span.from - before, to: span.to + after });
    });
    const points: TimePoint[] = [];
    leads.forEach((lead, l) => {
      const at = timeMs(lead.time);
      if (a.subjectDecided[l] === 0 && at !== null) points.push({ id: l, at });
    });
    const leadFits = intervalsContaining(intervals, points);
    const open = intervals.filter((iv) => a.callDecided[iv.id] === 0);
    run(leadFits, pointsWithin(points, open), n);
  };
  windowPass(0, 0, naming('time_window', 'by time (written during the call)'));
  windowPass(LEAD_MARGIN_BEFORE_MS, LEAD_MARGIN_AFTER_MS, naming('time_window_margin', 'by time (within 2 min before to 10 min after the call)'));

  return { assignment: a, warnings };
}
